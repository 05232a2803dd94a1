#!/usr/bin/env bash
# Software Vulkan (Mesa's lavapipe) for testing the WebGPU execution provider on a machine with
# no GPU. Debian 12's own Mesa is too old for ONNX Runtime's WebGPU EP; bookworm-backports' works.
# The backports suite is added to the Debian source apt already uses (no host name is written here).
set -euo pipefail
src=/etc/apt/sources.list.d/debian.sources
bp=/etc/apt/sources.list.d/lora-studio-backports.sources
if [ ! -f "$bp" ]; then
  uri=$(awk '/^URIs:/ {print $2; exit}' "$src")
  printf 'Types: deb\nURIs: %s\nSuites: bookworm-backports\nComponents: main\nSigned-By: /usr/share/keyrings/debian-archive-keyring.gpg\n' "$uri" > "$bp"
fi
apt-get update -qq
apt-get install -y -qq -t bookworm-backports mesa-vulkan-drivers libvulkan1
