#!/usr/bin/env bash
# Re-vendor KaTeX into docs/assets/vendor/katex (run by hand when upgrading; the build never downloads).
# Copies only what the site loads: katex.min.js, contrib/auto-render.min.js, katex.min.css and the
# woff2 fonts. The CSS is rewritten to reference woff2 only, so no link in the site points at a file
# we did not ship (every browser that runs the site supports woff2).
set -euo pipefail
version=${1:-0.19.1}
repo=$(cd "$(dirname "$0")/.." && pwd)
dest=$repo/docs/assets/vendor/katex
tmp=$(mktemp -d)
(cd "$tmp" && npm pack "katex@$version" --silent >/dev/null && tar xzf "katex-$version.tgz")
rm -rf "$dest" && mkdir -p "$dest/contrib" "$dest/fonts"
cp "$tmp/package/dist/katex.min.js" "$dest/"
cp "$tmp/package/dist/contrib/auto-render.min.js" "$dest/contrib/"
cp "$tmp/package/dist/fonts/"*.woff2 "$dest/fonts/"
cp "$tmp/package/LICENSE" "$dest/LICENSE.txt"
sed -E 's/,url\(fonts\/[A-Za-z0-9_-]+\.(woff|ttf)\) format\("(woff|truetype)"\)//g' \
  "$tmp/package/dist/katex.min.css" > "$dest/katex.min.css"
echo "katex $version" > "$dest/VERSION.txt"
rm -rf "$tmp"
du -sh "$dest"
