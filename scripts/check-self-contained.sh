#!/usr/bin/env bash
# Fails when code, tests, benches, fuzzers or scripts point outside the
# repository: the repository carries all its test data (see
# crates/siwa-kit/tests/vectors/README.md).
#
# Every relative path with `../` in crates/, fuzz/ (corpora aside), bench/,
# examples/, scripts/ and .ci/ must lead, from its file's folder or from one
# of that folder's parents (include_str! starts at the file, CARGO_MANIFEST_DIR
# at the crate, a script at the root it changes to), to something that exists
# inside the repository. A path that climbs out of it, or names nothing in
# it, is reported with its file and line.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd -P)

failed=0
checked=0
while IFS= read -r hit; do
    file=${hit%%:*}
    rest=${hit#*:}
    line=${rest%%:*}
    path=${rest#*:}
    path=${path%.} # the full stop of a sentence
    checked=$((checked + 1))
    base=$(dirname "$file")
    while :; do
        target=$(realpath -m "$root/$base/$path")
        if [[ ($target == "$root" || $target == "$root"/*) && -e $target ]]; then
            continue 2
        fi
        [[ $base == . ]] && break
        base=$(dirname "$base")
    done
    echo "$file:$line: $path leads outside the repository or to nothing in it" >&2
    failed=$((failed + 1))
done < <(grep -rIno -E '(\.\./)+[A-Za-z0-9_.@/-]*' \
    --exclude-dir=target --exclude-dir=corpus --exclude-dir=node_modules --exclude-dir=.work \
    crates fuzz bench examples scripts .ci)

if ((failed > 0)); then
    echo "self-contained: $failed of $checked relative paths leave the repository; keep test data inside it" >&2
    exit 1
fi
echo "self-contained: $checked relative paths, all inside the repository"
