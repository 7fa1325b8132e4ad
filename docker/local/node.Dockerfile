# kind node image for machines without a container registry (`make up IMAGES=local`): kind's own
# node layout (its images/base files: entrypoint, systemd units, kubelet drop-ins) on the Debian
# base made by docker/local/base-image.sh, with Debian's containerd, runc and CNI plugins, and
# Kubernetes built here from its Go module. Built by docker/local/node-image.sh, which assembles
# the context (kind's files from the kind module, the binaries from the build cache) and then
# imports the control-plane images into containerd, as `kind build node-image` does.
ARG BASE_IMAGE=ray-platform/debian:bookworm
FROM ${BASE_IMAGE}
ARG KUBERNETES_VERSION

COPY kind/usr/local/bin/ /usr/local/bin/
COPY kind/kind/ /kind/
COPY kind/etc/ /etc/
SHELL ["/bin/bash", "-o", "pipefail", "-c"]
# Debian's stable suite is the pin (its packages change only for security fixes).
# hadolint ignore=DL3008
RUN chmod 0755 /usr/local/bin/* /kind /kind/bin /kind/bin/* \
    && apt-get update -qq \
    && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
        systemd conntrack iptables nftables iproute2 ethtool util-linux mount kmod \
        libseccomp2 pigz e2fsprogs bash ca-certificates curl jq procps socat \
        containerd runc containernetworking-plugins \
    && apt-get clean && rm -rf /var/lib/apt/lists/* /var/cache/apt/*.bin \
    && find /lib/systemd/system/sysinit.target.wants/ -name "systemd-tmpfiles-setup.service" -delete \
    && rm -f /lib/systemd/system/multi-user.target.wants/* /etc/systemd/system/*.wants/* \
        /lib/systemd/system/local-fs.target.wants/* /lib/systemd/system/sockets.target.wants/*udev* \
        /lib/systemd/system/sockets.target.wants/*initctl* /lib/systemd/system/basic.target.wants/* \
    && echo "ReadKMsg=no" >> /etc/systemd/journald.conf \
    && ln -sf /usr/lib/systemd/systemd /sbin/init \
    && sed -i 's#/usr/local/bin/containerd#/usr/bin/containerd#' /etc/systemd/system/containerd.service \
    && systemctl enable kubelet.service containerd.service undo-mount-hacks.service \
    && systemctl mask systemd-binfmt.service \
    && mkdir -p /etc/kubernetes/manifests /opt/cni \
    && ln -sfn /usr/lib/cni /opt/cni/bin

COPY files/containerd-config.toml /etc/containerd/config.toml
COPY files/runc-drop-caps /usr/local/sbin/runc-drop-caps
# kind's base spec for pod containers: containerd's default plus kind's product-uuid hook.
RUN ctr oci spec \
      | jq '.hooks.createContainer[.hooks.createContainer | length] |= . + {"path": "/kind/bin/mount-product-files.sh"}' \
      | jq 'del(.process.rlimits)' >/etc/containerd/cri-base.json

COPY bin/kubelet bin/kubeadm bin/kubectl /usr/bin/
COPY manifests/ /kind/manifests/
RUN echo "${KUBERNETES_VERSION}" >/kind/version && kubelet --version

ENV container=docker
STOPSIGNAL SIGRTMIN+3
ENTRYPOINT ["/usr/local/bin/entrypoint", "/sbin/init"]
