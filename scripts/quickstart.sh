#!/usr/bin/env bash
# The main job on the bundled example model: inspect, generate C, build it with the system compiler,
# run it, and verify it against TFLM.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh verify
MODEL=examples/kws_micro_int8.tflite
OUT=build/example
step() { printf '\n== %s\n' "$*"; }

step "mcugen inspect $MODEL"
.venv/bin/mcugen inspect "$MODEL"
step "mcugen generate $MODEL -o $OUT --name kws"
.venv/bin/mcugen generate "$MODEL" -o "$OUT" --name kws
step "build with cc -std=c99 -Wall -Wextra -Werror -pedantic -O2"
cc -std=c99 -Wall -Wextra -Werror -pedantic -O2 -I "$OUT" "$OUT"/*.c examples/main.c -o "$OUT/kws_demo" -lm
step "run $OUT/kws_demo"
"$OUT/kws_demo"
step "mcugen verify $MODEL (generated C vs TFLM)"
.venv/bin/mcugen verify "$MODEL" --inputs 20
