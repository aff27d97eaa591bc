#!/bin/sh
# Print the path of a Python >= 3.12 interpreter, or explain and fail.
# Tries $PYTHON, then python3.13/python3.12/python3 on PATH, then any pyenv
# version (pyenv's shims refuse versions not selected, so ask pyenv directly).
ok() { "$1" -c 'import sys, venv; sys.exit(sys.version_info < (3, 12))' >/dev/null 2>&1; }
for candidate in "${PYTHON:-}" python3.13 python3.12 python3; do
    [ -n "$candidate" ] || continue
    path=$(command -v "$candidate" 2>/dev/null) || continue
    if ok "$path"; then echo "$path"; exit 0; fi
done
if command -v pyenv >/dev/null 2>&1; then
    root=$(pyenv root)
    for version in $(pyenv versions --bare 2>/dev/null | sort -t. -k1,1n -k2,2n -k3,3n -r); do
        path="$root/versions/$version/bin/python3"
        if [ -x "$path" ] && ok "$path"; then echo "$path"; exit 0; fi
    done
fi
echo "bgsite needs Python 3.12 or newer (with the venv module), and none was found." >&2
echo "Install one (e.g. 'apt-get install python3.12-venv', 'pyenv install 3.12') or set PYTHON=/path/to/python3.12." >&2
exit 1
