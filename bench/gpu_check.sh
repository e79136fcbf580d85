#!/usr/bin/env bash
# The GPU check of issue 15, for one run on a machine with an NVIDIA GPU, JAX with CUDA and no
# TensorFlow (the device tool's nvidia-h200). bench/README.md ("GPU check") says how to start it.
#
# Needs, from bench/gpu_prepare.sh (run on a developer's machine first):
#   .whl/         ai-edge-litert, keras, optree, namex, platformdirs wheels for cp312
#   .gl/          the Vulkan loader .debs (LiteRT's GPU accelerator is WebGPU over Vulkan)
#   .gpu_models/  digits.tflite, mobilenet_v2.tflite (made with TensorFlow's converter, which the GPU machine lacks)
#
# Writes to $OUT (at most 8 files, as the device tool brings back):
#   log.txt                  everything below, as it ran
#   env.txt                  nvidia-smi, Python and package versions, the Vulkan loader
#   devices.json             litesmith devices --json (NVML, TensorFlow's and JAX's views)
#   litert_gpu.txt           LiteRT's CompiledModel on the GPU (and the CPU) for both models: state, timings
#   keras_jax.txt            Keras 3 on JAX (own process) for both models
#   crossover.txt            CPU .tflite vs every GPU runner, both models: table and crossover batch size
#   crossover_digits.json    litesmith bench --devices --json through the sandboxed engine (digits)
#   crossover_mobilenet.json the same sweep for MobileNetV2, in-process
#
# GPU_CHECK_INSTALL=1 installs the wheels into /tmp/site and unpacks the .debs into / (the device
# machine only: never on a developer's machine). PY chooses the Python (default python3).
# Every step runs whatever the one before it did: a step that fails is in the log, the rest still run.
set -u
cd "$(dirname "$0")/.."
OUT=${OUT:-$(mktemp -d)}
PY=${PY:-python3}
MODELS=${GPU_MODELS:-.gpu_models}
WORK=$(mktemp -d)
export PYTHONUNBUFFERED=1 LITESMITH_LOG_DIR="$WORK/logs"
exec > >(tee "$OUT/log.txt") 2>&1
step() { echo; echo "=== $* ($(date -u +%H:%M:%S))"; }
# Each step has a cap (seconds) so that one that hangs (a GPU driver call, say) leaves time for the rest;
# the most wanted results come first, so a run stopped at the device call's timeout still brings them back.
cap() { local s=$1; shift; timeout -k 5 "$s" "$@"; local rc=$?; [ $rc = 124 ] && echo "STOPPED after ${s} s: $*"; return $rc; }

if [ "${GPU_CHECK_INSTALL:-0}" = 1 ]; then
  step "install the carried wheels and the Vulkan loader"
  "$PY" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl \
    && export PYTHONPATH=/tmp/site
  for f in .gl/*.deb; do dpkg -x "$f" /; done; ldconfig
  icd=/usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json
  egl=/usr/local/nvidia/share/glvnd/egl_vendor.d/10_nvidia.json
  [ -e "$icd" ] && export VK_DRIVER_FILES=${VK_DRIVER_FILES:-$icd}
  [ -e "$egl" ] && export __EGL_VENDOR_LIBRARY_FILENAMES=${__EGL_VENDOR_LIBRARY_FILENAMES:-$egl}
fi
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"

step "environment"
{
  date -u; uname -a; nproc; uptime
  nvidia-smi 2>&1 | head -20 || echo "no nvidia-smi"
  "$PY" -c 'import sys; print(sys.version)'
  "$PY" -m pip list 2>/dev/null | grep -iE '^(jax|jaxlib|jax-cuda|keras|ai-edge-litert|numpy|nvidia-ml-py|tensorflow|optree|ml.dtypes) ' \
    || true
  ldconfig -p | grep -i vulkan || echo "no libvulkan in ldconfig"
  echo "VK_DRIVER_FILES=${VK_DRIVER_FILES:-}"; ls /dev/nvidia* /dev/dri 2>&1 | head
} > "$OUT/env.txt" 2>&1
cat "$OUT/env.txt"

step "litesmith devices --json (through the sandboxed engine)"
cap 45 "$PY" -m core.cli.main devices --json > "$OUT/devices.json"; echo "exit $?"
cap 30 "$PY" -m core.cli.main devices; echo "exit $?"

step "MobileNetV2 as .keras (weights=None, seed 0), built here on JAX; digits.keras from the samples"
cp resources/samples/digits.keras "$WORK/digits.keras"
KERAS_BACKEND=jax XLA_PYTHON_CLIENT_PREALLOCATE=false cap 45 "$PY" -c "
import keras
keras.utils.set_random_seed(0)
keras.applications.MobileNetV2(weights=None, input_shape=(224, 224, 3)).save('$WORK/mobilenet_v2.keras')
print('built', keras.backend.backend())" || echo "MobileNetV2 .keras could not be built (no Keras/JAX?)"

step "LiteRT CompiledModel: GPU accelerator, then CPU for comparison"
{
  for m in digits mobilenet_v2; do
    b=$([ $m = digits ] && echo 1,8,64,512 || echo 1,8,64,256)
    cap 30 "$PY" -m core.benchmark.litert_gpu "$MODELS/$m.tflite" --accelerator gpu --batch $b --runs 20
    echo "exit $?"
    cap 40 "$PY" -m core.benchmark.litert_gpu "$MODELS/$m.tflite" --accelerator cpu --threads "$(nproc)" --batch $b --runs 3
    echo "exit $?"
  done
} > "$OUT/litert_gpu.txt" 2> "$WORK/litert.err"
cat "$OUT/litert_gpu.txt"; grep -v '^INFO' "$WORK/litert.err" | tail -40

step "crossover: both models in-process (tables)"
{
  cap 40 "$PY" -m core.benchmark.gpu_sweep "$MODELS/digits.tflite" --keras-model "$WORK/digits.keras" \
    --batch 1,8,64,512 --runs 30 --warmup 3
  echo "exit $?"
  cap 150 "$PY" -m core.benchmark.gpu_sweep "$MODELS/mobilenet_v2.tflite" --keras-model "$WORK/mobilenet_v2.keras" \
    --batch 1,8,64,256 --runs 5 --warmup 2 --out-json "$OUT/crossover_mobilenet.json"
  echo "exit $?"
} > "$OUT/crossover.txt" 2> "$WORK/sweep.err"
cat "$OUT/crossover.txt"; grep -v '^INFO' "$WORK/sweep.err" | tail -40
step "Keras 3 on JAX, in its own process"
{
  cap 20 "$PY" -m core.benchmark.keras_jax_child --probe
  cap 30 "$PY" -m core.benchmark.keras_jax_child --measure "$WORK/digits.keras" --batch 1,8,64,512 --runs 20
  cap 40 "$PY" -m core.benchmark.keras_jax_child --measure "$WORK/mobilenet_v2.keras" --batch 1,64 --runs 5
} > "$OUT/keras_jax.txt" 2>&1
cat "$OUT/keras_jax.txt"

step "crossover: digits through the sandboxed engine (litesmith bench --devices)"
cap 60 "$PY" -m core.cli.main bench "$MODELS/digits.tflite" --keras-model "$WORK/digits.keras" --devices cpu,gpu \
  --batch 1,8,64,512 --runs 30 --warmup 3 --json > "$OUT/crossover_digits.json"; echo "exit $?"

step "done: $(ls "$OUT" | tr '\n' ' ')"
uptime
