"""The UCI HIGGS data set's layout: no header, the label, then 28 features, all numbers."""

from __future__ import annotations

LOW_LEVEL = [
    "lepton_pt",
    "lepton_eta",
    "lepton_phi",
    "missing_energy_magnitude",
    "missing_energy_phi",
    "jet1_pt",
    "jet1_eta",
    "jet1_phi",
    "jet1_btag",
    "jet2_pt",
    "jet2_eta",
    "jet2_phi",
    "jet2_btag",
    "jet3_pt",
    "jet3_eta",
    "jet3_phi",
    "jet3_btag",
    "jet4_pt",
    "jet4_eta",
    "jet4_phi",
    "jet4_btag",
]
HIGH_LEVEL = ["m_jj", "m_jjj", "m_lv", "m_jlv", "m_bb", "m_wbb", "m_wwbb"]
LABEL = "label"
FEATURES = LOW_LEVEL + HIGH_LEVEL
COLUMNS = [LABEL, *FEATURES]
FULL_ROWS = 11_000_000
# The standard split: the last 500,000 rows are the test set.
STANDARD_TEST_ROWS = 500_000
UCI_URL = "https://archive.ics.uci.edu/ml/machine-learning-databases/00280/HIGGS.csv.gz"
