#!/usr/bin/env bash
# The README's evaluation figure, docs/figures/quickstart-eval.png: train the quickstart model
# (or finish training it), evaluate it on its test tiles, and keep the spectrum-ratio figure.
#
#   scripts/make_readme_figure.sh                 # run folder runs/quickstart
#   RUN=/tmp/quickstart scripts/make_readme_figure.sh
#
# Deterministic for a given machine and torch: the spec fixes the training seed, and the
# evaluation's tile choice and latent draws use --seed 0. The whole evaluation (four figures
# and summary.json) stays in $RUN/eval/readme/.
set -euo pipefail
cd "$(dirname "$0")/.."
RUN="${RUN:-runs/quickstart}"

# --resume starts a new run in an empty folder, continues an interrupted one, and does nothing
# for a finished one.
runner train specs/quickstart.yaml --out "$RUN" --resume --quiet
runner evaluate "$RUN" --out "$RUN/eval/readme" --seed 0 --force
cp "$RUN/eval/readme/spectra.png" docs/figures/quickstart-eval.png
echo "wrote docs/figures/quickstart-eval.png ($(wc -c < docs/figures/quickstart-eval.png) bytes) from $RUN"
