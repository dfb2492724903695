#!/usr/bin/env bash
# Packs what a machine without Node needs to run the gradient checks and bench:ops (a lent GPU machine):
# .device/{node.xz, gradcheck.mjs, ops.mjs, *.wasm, torch_ops.py, node_modules/webgpu (dawn.node.xz), deb/libvulkan1, run.sh}
# about 35 MB. There: `bash .device/run.sh` (writes its tables to $OUT when set).
set -euo pipefail
cd "$(dirname "$0")/.."
mkdir -p .device/node_modules/webgpu/dist/linux-x64 .device/deb
banner="import { createRequire as __cr } from 'module'; import { fileURLToPath as __fu } from 'url'; import { dirname as __dn } from 'path'; const require = __cr(import.meta.url); const __filename = __fu(import.meta.url); const __dirname = __dn(__filename);"
for entry in bench/ops.ts tools/gradcheck.ts; do
  node_modules/.bin/esbuild "$entry" --bundle --platform=node --format=esm --target=node20 \
    --outfile=".device/$(basename "$entry" .ts).mjs" --external:webgpu --external:@tensorflow/tfjs-node \
    --external:@tensorflow/tfjs-node-gpu "--banner:js=$banner" --log-level=warning
done
cp node_modules/@tensorflow/tfjs-backend-wasm/dist/*.wasm bench/torch_ops.py .device/
cp node_modules/webgpu/package.json node_modules/webgpu/index.js .device/node_modules/webgpu/
[ -f .device/node_modules/webgpu/dist/linux-x64/dawn.node.xz ] ||
  xz -T2 -6 -c node_modules/webgpu/dist/linux-x64/dawn.node > .device/node_modules/webgpu/dist/linux-x64/dawn.node.xz
[ -f .device/node.xz ] || xz -T2 -6 -c "$(readlink -f "$(command -v node)")" > .device/node.xz
ls .device/deb/*.deb >/dev/null 2>&1 || (cd .device/deb && apt-get download libvulkan1)
cat > .device/run.sh <<'RUN'
#!/usr/bin/env bash
cd "$(dirname "$0")"
OUT=${OUT:-/tmp}
nproc; grep -m1 "model name" /proc/cpuinfo; nvidia-smi --query-gpu=name,driver_version --format=csv,noheader || true
xz -d -T8 -c node.xz > /tmp/node && chmod +x /tmp/node
xz -d -f -k node_modules/webgpu/dist/linux-x64/dawn.node.xz
for f in deb/*.deb; do dpkg -x "$f" /; done; ldconfig
icd=$(ls /usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json /usr/share/vulkan/icd.d/nvidia_icd.json /etc/vulkan/icd.d/nvidia_icd.json 2>/dev/null | head -1 || true)
[ -n "$icd" ] && export VK_DRIVER_FILES=$icd VK_ICD_FILENAMES=$icd
export PSDET_PYTHON=$(command -v python3)
timeout 120 /tmp/node gradcheck.mjs --backends webgpu,wasm 2>&1 | grep -v "Warning: max" | tee "$OUT/gradcheck.txt"
timeout 200 /tmp/node ops.mjs --backends wasm --reps 3 2>&1 | tee "$OUT/ops-wasm.txt"
timeout 150 /tmp/node ops.mjs --backends webgpu --reps 3 --no-torch 2>&1 | grep -v "Warning: max" | tee "$OUT/ops-webgpu.txt"
timeout 60 python3 torch_ops.py --device cuda --reps 5 | tee "$OUT/torch-cuda.json"
RUN
chmod +x .device/run.sh
du -sh .device
