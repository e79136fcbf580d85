#!/usr/bin/env bash
# Install a built bundle for the current user (no root, no Python needed):
#   packaging/install.sh [BUNDLE_DIR]     default BUNDLE_DIR: dist/litesmith
# Puts the app in ~/.local/lib/litesmith, the `litesmith` command in ~/.local/bin,
# the desktop entry and the icon under ~/.local/share. Run it again to update;
# `packaging/install.sh --uninstall` removes all of it.
set -euo pipefail
cd "$(dirname "$0")/.."
DATA="${XDG_DATA_HOME:-$HOME/.local/share}"
LIB="$HOME/.local/lib/litesmith"
BIN="$HOME/.local/bin"
ICON_DIR="$DATA/icons/hicolor/256x256/apps"
APPS="$DATA/applications"

if [[ "${1:-}" == "--uninstall" ]]; then
    rm -rf "$LIB" "$BIN/litesmith" "$ICON_DIR/litesmith.png" "$APPS/litesmith.desktop"
    echo "Litesmith removed."
    exit 0
fi

BUNDLE="${1:-dist/litesmith}"
if [[ ! -x "$BUNDLE/litesmith" ]]; then
    echo "error: no bundle at $BUNDLE (build it with: make package)" >&2
    exit 2
fi

mkdir -p "$(dirname "$LIB")" "$BIN" "$ICON_DIR" "$APPS"
# Copy next to the old install, then swap: a failed copy leaves the old one working.
rm -rf "$LIB.new"
cp -a "$BUNDLE" "$LIB.new"
rm -rf "$LIB"
mv "$LIB.new" "$LIB"
ln -sfn "$LIB/litesmith" "$BIN/litesmith"
install -m 644 resources/icons/litesmith.png "$ICON_DIR/litesmith.png"
# Absolute Exec/TryExec: ~/.local/bin is not on every desktop session's PATH.
sed -e "s|^Exec=litesmith|Exec=$LIB/litesmith|" -e "s|^TryExec=litesmith|TryExec=$LIB/litesmith|" \
    packaging/litesmith.desktop > "$APPS/litesmith.desktop"
chmod 644 "$APPS/litesmith.desktop"
command -v update-desktop-database >/dev/null && update-desktop-database -q "$APPS" || true
command -v gtk-update-icon-cache >/dev/null && gtk-update-icon-cache -q -t "$DATA/icons/hicolor" || true
echo "Installed: $BIN/litesmith (app in $LIB), desktop entry $APPS/litesmith.desktop"
