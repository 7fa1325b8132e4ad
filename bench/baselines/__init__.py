"""What the suites compare against: plain xgboost, the handoff floor and S3, the HIGGS script."""
