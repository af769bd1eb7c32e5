#!/usr/bin/env bash
# Solve one generated paper-scale scenario (Section VI-A: 5 APs, 1250 users, 250 subchannels, VGG16) with every
# registered algorithm and evaluate each plan. Prints: algorithm, solve exit code, feasible, objective, seconds.
# Usage: bash benchmarks/paper_scale_all_algorithms.sh [WORKDIR]   (nomasplit on PATH; about 15 min on 2 cores)
set -u
work=${1:-$(mktemp -d)}
nomasplit scenario generate --out "$work/paper.json.gz" --seed 3 > /dev/null
for algorithm in device-only edge-only neurosurgeon dnn-surgery ecc-oma ecc-noma ligd ligd-peruser exact ligd-paper gd-paper; do
  start=$(date +%s)
  nomasplit solve "$work/paper.json.gz" --algorithm "$algorithm" --out "$work/$algorithm.json" --threads 1 \
    > "$work/$algorithm.log" 2>&1
  code=$?
  if [ "$code" -eq 0 ]; then
    nomasplit evaluate "$work/paper.json.gz" "$work/$algorithm.json" --out "$work/$algorithm.result.json" > /dev/null
    outcome=$(python -c "import json,sys; d=json.load(open(sys.argv[1])); print('feasible' if d['feasible'] else 'INFEASIBLE', d['totals']['objective'])" "$work/$algorithm.result.json")
  else
    outcome="($(tail -c 200 "$work/$algorithm.log" | tr '\n' ' '))"
  fi
  echo "$algorithm exit=$code $outcome $(( $(date +%s) - start )) s"
done
