# The images a local kind node carries for Kubernetes itself (control plane, kube-proxy, CoreDNS,
# etcd, the pause sandbox, the pod network and the storage provisioner), from binaries built
# here by docker/local/go-binaries.sh. One target per image; docker/local/node-image.sh builds
# each with the build cache's bin/ as context.
ARG BASE_IMAGE=ray-platform/debian:bookworm

# kube-apiserver, kube-controller-manager, kube-scheduler: static binaries, started by kubeadm's
# static pods by name (so on PATH).
FROM scratch AS kube-component
ARG BINARY
COPY ${BINARY} /usr/local/bin/${BINARY}
ENV PATH=/usr/local/bin:/usr/bin:/bin

FROM scratch AS etcd
COPY etcd etcdctl /usr/local/bin/
ENV PATH=/usr/local/bin:/usr/bin:/bin

FROM scratch AS coredns
COPY coredns /coredns
ENTRYPOINT ["/coredns"]

FROM scratch AS pause
COPY pause /pause
ENTRYPOINT ["/pause"]

# kube-router's firewall programs iptables (nf_tables backend, like the host's) and ipsets.
FROM ${BASE_IMAGE} AS kube-router
# hadolint ignore=DL3008
RUN apt-get update -qq \
    && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
        iptables ipset conntrack \
    && apt-get clean && rm -rf /var/lib/apt/lists/* /var/cache/apt/*.bin
COPY kube-router /usr/local/bin/kube-router
ENTRYPOINT ["/usr/local/bin/kube-router"]

# kube-proxy programs iptables (nf_tables backend, like the host's) and conntrack.
FROM ${BASE_IMAGE} AS kube-proxy
# hadolint ignore=DL3008
RUN apt-get update -qq \
    && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
        iptables nftables conntrack ipset kmod \
    && apt-get clean && rm -rf /var/lib/apt/lists/* /var/cache/apt/*.bin
COPY kube-proxy /usr/local/bin/kube-proxy

FROM ${BASE_IMAGE} AS kind-net
# hadolint ignore=DL3008
RUN apt-get update -qq \
    && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends iproute2 \
    && apt-get clean && rm -rf /var/lib/apt/lists/* /var/cache/apt/*.bin
COPY kubectl /usr/local/bin/kubectl
COPY kind-net.sh /usr/local/bin/kind-net
ENTRYPOINT ["/usr/local/bin/kind-net"]

FROM ${BASE_IMAGE} AS local-path-provisioner
COPY local-path-provisioner /usr/local/bin/local-path-provisioner

# The KubeRay operator (loaded into the cluster, not the node image). Its Deployment runs
# /manager with runAsNonRoot: a numeric user.
FROM scratch AS kuberay-operator
COPY kuberay-operator /manager
USER 65532:65532
ENTRYPOINT ["/manager"]
