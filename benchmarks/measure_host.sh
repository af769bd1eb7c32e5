#!/usr/bin/env bash
# Measure this host as an edge server: per-unit latency tables and lambda(r) of the three zoo models with r = 1, 2
# torch threads (or the counts given as $1, e.g. 1,2,4,8 on a bigger host); put them into a scenario of the three
# models (benchmarks/three-models.yaml) and solve it with the FLOP model and with the measurements.
# Outputs under out/host/ (gitignored). Run from the repository root: bash benchmarks/measure_host.sh
set -euo pipefail
units=${1:-1,2}
repeats=${REPEATS:-15}
out=out/host
mkdir -p "$out"
echo "load before: $(cut -d' ' -f1-3 /proc/loadavg)"
for model in nin tiny-yolov2-voc vgg16; do
    nomasplit profile "$model" --measure --units "$units" --warmup 3 --repeats "$repeats" \
        --timings "$out/$model-timings.json" --out "$out/$model-measured.json"
done
nomasplit scenario generate benchmarks/three-models.yaml --out "$out/three-models.json" > /dev/null
nomasplit scenario apply-measurements "$out/three-models.json" --edge "$out/nin-timings.json" \
    --edge "$out/tiny-yolov2-voc-timings.json" --edge "$out/vgg16-timings.json" --out "$out/three-models-measured.json"
nomasplit solve "$out/three-models.json" --out "$out/plan-flop.json" --seed 0
nomasplit solve "$out/three-models-measured.json" --out "$out/plan-measured.json" --seed 0
nomasplit evaluate "$out/three-models-measured.json" "$out/plan-measured.json" --out "$out/result-measured.json" \
    | tail -n 4
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)"
