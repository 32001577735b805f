#!/usr/bin/env bash
# Makes assets/fonts/concord-icons.ttf: the Phosphor icons (regular weight,
# MIT licence) that gui/src/ui/icons.rs names, and nothing else, so the web
# client's download stays small. Usage:
#   assets/fonts/make-icons.sh PATH/TO/Phosphor.ttf
# Phosphor.ttf ships in Phosphor's releases and in the `egui-phosphor` crate
# (`res/Phosphor.ttf`). Needs fonttools (`pip install fonttools`).
set -euo pipefail
cd "$(dirname "$0")"
source_font="${1:?path to Phosphor.ttf}"
python3 -c "import fontTools" 2>/dev/null || pip install --quiet fonttools
# Every "\u{XXXX}" in icons.rs.
unicodes=$(grep -o '\\u{[0-9A-Fa-f]*}' ../../gui/src/ui/icons.rs | tr -d '\\u{}' | sed 's/^/U+/' | sort -u | paste -sd, -)
python3 -m fontTools.subset "$source_font" --unicodes="$unicodes" \
    --output-file=concord-icons.ttf --no-hinting --desubroutinize --name-IDs='*' --layout-features=''
echo "concord-icons.ttf: $(wc -c < concord-icons.ttf) bytes, $(echo "$unicodes" | tr ',' '\n' | wc -l) icons"
