#!/usr/bin/env bash
# Prepare, on a developer's machine (with pip and TensorFlow), what bench/gpu_check.sh needs on the
# GPU machine, which has no TensorFlow and no network (see bench/README.md, "GPU check"):
#   .whl/         cp312 wheels the GPU image lacks: ai-edge-litert, keras and its missing needs
#   .gpu_models/  digits.tflite (converted from resources/samples/digits.keras) and mobilenet_v2.tflite
#                 (keras.applications.MobileNetV2(weights=None), seeded; .tflite needs TensorFlow to convert)
#   .gl/          the Vulkan loader and GL/EGL libraries (LiteRT's GPU accelerator is WebGPU over Vulkan)
# All three are ignored by git (.git/info/exclude) and travel with `carry`.
# Usage: bash bench/gpu_prepare.sh        (from the repository root; about 40 MiB in all)
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-.venv/bin/python}
mkdir -p .git/info
for d in /.whl/ /.gl/ /.gpu_models/; do grep -qxF "$d" .git/info/exclude 2>/dev/null || echo "$d" >> .git/info/exclude; done

# 1. Wheels. Versions pinned to what this checkout is tested with; the GPU image already holds numpy,
#    ml-dtypes, h5py, absl-py, rich, packaging, protobuf, flatbuffers, tqdm, typing-extensions, psutil
#    (device KINDS.md), so those are not carried. One version of each, or the install stops.
mkdir -p .whl
PLAT="--platform manylinux_2_28_x86_64 --platform manylinux_2_27_x86_64 --platform manylinux_2_17_x86_64 \
      --platform manylinux2014_x86_64 --platform manylinux1_x86_64"
for spec in ai-edge-litert==2.3.0 keras==3.15.1 optree==0.20.0 namex==0.1.0 platformdirs==4.5.0; do
  name=${spec%%==*}
  ls .whl | grep -qi "^${name//-/_}-" && continue
  "$PY" -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp $PLAT \
      -d .whl "$spec" || "$PY" -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 \
      --implementation cp $PLAT --platform manylinux_2_34_x86_64 --platform manylinux_2_35_x86_64 -d .whl "$spec"
done
for w in .whl/ai_edge_litert-*.whl; do unzip -p "$w" '*/METADATA' | grep ^Requires-Dist | grep -v extra || true; done

# 2. Models (.tflite needs TensorFlow's converter, which the GPU machine lacks).
mkdir -p .gpu_models
"$PY" -m bench.gpu_models .gpu_models

# 3. Vulkan loader and friends, as the device README says (amd64 whatever this machine is).
if [ ! -e .gl/done ]; then
  mkdir -p .gl /tmp/amd64/partial
  o='-oAPT::Architecture=amd64 -oAPT::Architectures=amd64 -oDir::State::Lists=/tmp/amd64'
  apt-get $o update -qq && (cd .gl && apt-get $o download libvulkan1 libegl1 libglvnd0 libopengl0 libgl1 libglx0 libgles2) \
    && touch .gl/done || echo "warning: could not fetch the Vulkan debs; LiteRT's GPU runner will say why it cannot start"
fi
du -sh .whl .gpu_models .gl
