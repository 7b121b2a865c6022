#!/usr/bin/env bash
# Runs every fuzz target for SECONDS each, one after the other, and fails if
# any of them crashes (a panic, a broken invariant, a timeout, an OOM).
#
#   fuzz/run.sh SECONDS [TARGET...]
#
# Corpora live in fuzz/corpus/<target>/ and are committed: each run starts
# where the last ended. Before fuzzing, a target's corpus gets its seeds
# (the real Apple tokens of crates/siwa-kit/tests/vectors/apple-real, the key
# fixtures of crates/siwa-kit/tests/fixtures, and the seeds each target makes
# itself); after, it is minimized (libFuzzer -merge, via cargo fuzz cmin)
# and capped at $FUZZ_MAX_FILES files of at most $FUZZ_MAX_LEN bytes.
#
# Environment: FUZZ_SANITIZER (default none; "address" needs RUSTC_BOOTSTRAP,
# set here), FUZZ_MAX_LEN (4096), FUZZ_MAX_FILES (500), FUZZ_JOBS_LOG_DIR.
# See fuzz/README.md.
set -euo pipefail

usage() {
    echo "usage: fuzz/run.sh SECONDS [TARGET...]" >&2
    exit 2
}
[[ $# -ge 1 && $1 =~ ^[0-9]+$ ]] || usage
secs=$1
shift

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)
cd "$here"
vectors="$root/crates/siwa-kit/tests/vectors/apple-real"
fixtures="$root/crates/siwa-kit/tests/fixtures"
# The seeds belong to the repository: a missing seed folder stops the run
# here, a missing file where seed_external reads it (set -e); never a skip.
for d in "$vectors" "$fixtures"; do
    [[ -d $d ]] || {
        echo "fuzz/run.sh: seed folder $d is missing (see crates/siwa-kit/tests/vectors/README.md)" >&2
        exit 1
    }
done

all_targets=(jws json claims id_token jwks callback notification p8 doctor emulator_token oidc)
if [[ $# -gt 0 ]]; then
    targets=("$@")
else
    targets=("${all_targets[@]}")
fi

sanitizer=${FUZZ_SANITIZER:-none}
max_len=${FUZZ_MAX_LEN:-4096}
max_files=${FUZZ_MAX_FILES:-500}
logs=${FUZZ_JOBS_LOG_DIR:-$here/target/logs}
export CARGO_TARGET_DIR="$here/target"
# The machine's toolchain is stable. cargo fuzz passes -Z flags to rustc only
# for a sanitizer; RUSTC_BOOTSTRAP lets stable rustc take them.
export RUSTC_BOOTSTRAP=1
# Flags every cargo fuzz call shares, so that run and cmin reuse one build:
# release with debug assertions (and so overflow checks) on.
flags=(-O -a -s "$sanitizer")

if ! command -v cargo-fuzz >/dev/null 2>&1; then
    echo "== installing cargo-fuzz (cargo install --locked cargo-fuzz)"
    cargo install --locked cargo-fuzz
fi

mkdir -p "$logs"
echo "== building ${#targets[@]} targets (sanitizer: $sanitizer)"
cargo fuzz build "${flags[@]}" >"$logs/build.log" 2>&1 || {
    tail -50 "$logs/build.log" >&2
    echo "fuzz build failed; see $logs/build.log" >&2
    exit 1
}

# add_seed TARGET MODE_BYTE_OCTAL|'' < content: a corpus file named by its SHA-1.
add_seed() {
    local dir="corpus/$1" tmp name
    mkdir -p "$dir"
    tmp=$(mktemp)
    {
        if [[ -n $2 ]]; then printf "\\$2"; fi
        cat
    } >"$tmp"
    name=$(sha1sum "$tmp" | cut -c1-40)
    if [[ -e "$dir/$name" ]]; then rm -f "$tmp"; else mv "$tmp" "$dir/$name"; fi
}

# A string member of a flat JSON file (the vectors are written by hand).
json_string() {
    sed -n "s/^ *\"$2\": *\"\\([^\"]*\\)\".*/\\1/p" "$1" | head -1
}

seed_external() {
    local t=$1 f token
    case $t in
    jws | id_token | notification | doctor)
        for f in "$vectors"/*.json; do
            token=$(json_string "$f" id_token)
            [[ -n $token ]] || continue
            case $t in
            jws) printf '%s' "$token" | add_seed jws '' ;;
            id_token) printf '%s' "$token" | add_seed id_token 000 ;;
            doctor) printf '%s' "$token" | add_seed doctor 000 ;;
            notification) printf '{"payload":"%s"}' "$token" | add_seed notification 000 ;;
            esac
        done
        ;;
    jwks)
        add_seed jwks 000 <"$vectors/jwks-snapshot.json"
        ;;
    p8)
        for f in "$fixtures"/*.pem "$fixtures"/*.p8 "$fixtures"/garbage.txt; do
            [[ $(stat -c %s "$f") -le $max_len ]] || continue
            add_seed p8 000 <"$f"
            add_seed p8 002 <"$f"
        done
        ;;
    esac
}

# Keeps a corpus committable: no file over max_len bytes, at most max_files
# files (the largest go first).
cap_corpus() {
    local dir="corpus/$1"
    find "$dir" -type f -size +"${max_len}"c -delete
    local count
    count=$(find "$dir" -type f | wc -l)
    if ((count > max_files)); then
        find "$dir" -type f -printf '%s %p\n' | sort -n | tail -n $((count - max_files)) | cut -d' ' -f2- | xargs rm -f
    fi
}

declare -A execs rate result files bytes
failed=()
for t in "${targets[@]}"; do
    mkdir -p "corpus/$t"
    seed_external "$t"
    case $t in
    json | claims | id_token | notification | doctor) dict=dict/claims.dict ;;
    *) dict=dict/$t.dict ;;
    esac
    dict_args=()
    [[ -f $dict ]] && dict_args=(-dict="$dict")
    echo "== $t: fuzzing for $secs s"
    status=0
    SIWA_FUZZ_SEED_DIR="$here/corpus/$t" cargo fuzz run "${flags[@]}" "$t" "corpus/$t" -- \
        -max_total_time="$secs" -max_len="$max_len" -timeout=10 -rss_limit_mb=2048 \
        -print_final_stats=1 "${dict_args[@]}" >"$logs/$t.log" 2>&1 || status=$?
    execs[$t]=$(sed -n 's/^stat::number_of_executed_units: *//p' "$logs/$t.log" | tail -1)
    rate[$t]=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$logs/$t.log" | tail -1)
    if ((status != 0)); then
        result[$t]="CRASH (exit $status)"
        failed+=("$t")
        grep -E "panicked at|ERROR: libFuzzer|SUMMARY|Test unit written|assertion" "$logs/$t.log" | head -8 >&2 || true
        echo "   reproduce: (cd fuzz && RUSTC_BOOTSTRAP=1 CARGO_TARGET_DIR=target cargo fuzz run ${flags[*]} $t artifacts/$t/<file>); log: $logs/$t.log" >&2
    else
        result[$t]=ok
        # Minimize, then cap (cmin merges into a fresh folder, keeping one
        # input per coverage feature).
        cargo fuzz cmin "${flags[@]}" "$t" "corpus/$t" -- -max_len="$max_len" -timeout=10 \
            >"$logs/$t.cmin.log" 2>&1 || echo "   (cmin failed: $logs/$t.cmin.log; corpus kept as is)" >&2
    fi
    cap_corpus "$t"
    files[$t]=$(find "corpus/$t" -type f | wc -l)
    bytes[$t]=$(du -sb "corpus/$t" | cut -f1)
    echo "   ${result[$t]}: ${execs[$t]:-?} executions (${rate[$t]:-?}/s), corpus ${files[$t]} files, ${bytes[$t]} bytes"
done

echo
printf '%-16s %12s %8s %8s %10s  %s\n' target executions exec/s files bytes result
for t in "${targets[@]}"; do
    printf '%-16s %12s %8s %8s %10s  %s\n' "$t" "${execs[$t]:-?}" "${rate[$t]:-?}" "${files[$t]}" "${bytes[$t]}" "${result[$t]}"
done
echo "corpus total: $(du -sb corpus | cut -f1) bytes in $(find corpus -type f | wc -l) files"
if ((${#failed[@]} > 0)); then
    echo "FAILED: ${failed[*]} (inputs in fuzz/artifacts/<target>/)" >&2
    exit 1
fi
echo "all ${#targets[@]} targets ran ${secs} s each without a crash"
