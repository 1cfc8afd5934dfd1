#!/usr/bin/env bash
# sweep.sh BIN OUT - runs BIN over every fixture folder, the full-scale layouts under
# build/bench (when `make bench` wrote them), every rules choice and a grid of TP/PP/EP layouts,
# in text and JSON, plus inspect, explain, rules and check, and writes one line per command to
# OUT/<group>.txt: its words, the sha256 of its output (stdout then stderr) and its exit status.
# Two builds behave the same to a user when their sweeps are identical (`diff -r`); a differing
# line names the command to run on both. Timings (`read ... in X s (R GB/s)`) are masked.
set -u
bin=$1
out=$2
mkdir -p "$out"
rm -f "$out"/*.txt

# one command: its words, its exit status and its output (stdout then stderr), timings masked
run() {
    local group=$1
    shift
    local h rc
    h=$({ "$bin" "$@" 2>&1; echo $? >"$out/.rc"; } |
        sed -E 's/in [0-9.]+ s(, | \()[0-9.]+ [GMK]?B\/s\)?/in T s (R)/g; s/"seconds":[0-9.e-]+/"seconds":T/g' | sha256sum)
    rc=$(cat "$out/.rc")
    printf '%s  %s  rc=%d\n' "$*" "${h%% *}" "$rc" >>"$out/$group.txt"
}

folders=""
for d in fixtures/folders/* fixtures/lint/* fixtures/moe/* fixtures/negative/* fixtures/quant/* \
         fixtures/real/* build/bench/dsv3-sparse build/bench/dsv3-index-only; do
    [ -d "$d" ] && folders="$folders $d"
done
rules_choices="auto"
for f in rules/builtin/*.json; do rules_choices="$rules_choices $(basename "$f" .json)"; done
for f in fixtures/rules/*.json; do rules_choices="$rules_choices $f"; done
layouts="1x1 2x1 8x1 3x1 1x3 4x2 8x2"

# lint: folder x rules x layout x EP x format (the whole grid for the rules chosen by config.json,
# three layouts for each other rules choice)
for d in $folders; do
    g=lint-$(basename "$d")
    for r in $rules_choices; do
        ropt=()
        [ "$r" = auto ] || ropt=(--rules "$r")
        ls=$layouts
        [ "$r" = auto ] || ls="1x1 1x3 8x2"
        for l in $ls; do
            tp=${l%x*}
            pp=${l#*x}
            for ep in "" --ep; do
                run "$g" lint "$d" "${ropt[@]}" --tp "$tp" --pp "$pp" $ep
                run "$g" lint "$d" "${ropt[@]}" --tp "$tp" --pp "$pp" $ep --format json
            done
        done
    done
    run "$g" lint "$d" --format github --tp 8 --pp 2
    run "$g" lint "$d" --strict
    run "$g" lint "$d" --pp 4 --pp-partition 1,1,0,0
done

# inspect: every folder and every malformed file
for d in $folders; do
    run inspect inspect "$d"
    run inspect inspect "$d" --format json
    run inspect inspect "$d" --list
done
for f in fixtures/malformed/*.safetensors fixtures/real/*.safetensors; do
    run inspect-files inspect "$f"
    run inspect-files inspect "$f" --format json
done
run verify inspect --verify --manifest fixtures/folders/verify-data.sha256 fixtures/folders/verify-data
run verify inspect --verify --manifest fixtures/folders/verify-data-bad.sha256 fixtures/folders/verify-data
run verify inspect --verify --manifest fixtures/folders/verify-pointers fixtures/folders/verify-data
run verify inspect --verify fixtures/real/tiny-qwen2 --format json
run verify inspect --verify fixtures/quant/tiny-llama-fp8

# explain and rules
for d in fixtures/lint/r1-tiny fixtures/lint/glm5-tiny fixtures/real/tiny-qwen2 fixtures/lint/mixtral-tiny; do
    for e in "KeyError: 'layers.61.mlp.experts.w2_weight'" \
             "KeyError: 'layers.0.self_attn.indexer.wk_weights_proj.weight'" \
             "KeyError: 'model.layers.0.mlp.down_proj.weight_scale_inv'" \
             "layers.1.self_attn.qkv_proj.weight" "model.embed_tokens.weight" "lm_head.weight" \
             "layers.0.mlp.experts.w13_weight" "no such thing"; do
        for l in 1x1 8x2 2x1; do
            run explain explain "$d" "$e" --tp "${l%x*}" --pp "${l#*x}"
            run explain explain "$d" "$e" --tp "${l%x*}" --pp "${l#*x}" --rules deepseek_v3-old-mtp-prefix 2>/dev/null
        done
    done
done
run explain explain fixtures/lint/r1-tiny "KeyError: 'layers.61.mlp.experts.w2_weight'" --tp 8 --pp 2 \
    --rules fixtures/rules/deepseek_v3-old-mtp-prefix.json
run explain explain fixtures/lint/glm5-tiny "KeyError: 'layers.0.self_attn.indexer.wk_weights_proj.weight'" \
    --pp 8 --rules fixtures/rules/deepseek_v3-indexer-no-pp-guard.json
run rules rules list
for r in $rules_choices; do
    [ "$r" = auto ] || run rules rules show "$r"
done
for k in model.layers.61.mlp.experts.17.down_proj.weight model.layers.0.self_attn.q_proj.weight \
         model.embed_tokens.weight lm_head.weight model.layers.0.mlp.gate.weight nonsense; do
    for d in fixtures/lint/r1-tiny fixtures/real/tiny-qwen2 fixtures/lint/qwen3-moe-tiny; do
        run rules rules explain "$k" "$d"
        run rules rules explain "$k" "$d" --tp 8 --pp 2
    done
done
# usage errors
run usage
run usage --help
run usage nonsense
run usage lint
run usage lint fixtures/real/tiny-qwen2 --tp 0
run usage lint fixtures/real/tiny-qwen2 --tp x
run usage lint fixtures/real/tiny-qwen2 --rules nosuch
run usage check fixtures/real/tiny-qwen2 --pp 9
run usage explain fixtures/real/tiny-qwen2
run usage rules show nosuch
for c in inspect lint explain rules tui check; do run usage "$c" --help; done

# check on the CPU
for d in fixtures/real/tiny-* fixtures/moe/* fixtures/quant/* fixtures/lint/*; do
    [ -d "$d" ] || continue
    for l in 1x1 2x1 4x2 2x2; do
        run check check "$d" --device cpu --tp "${l%x*}" --pp "${l#*x}"
    done
    run check check "$d" --device cpu --tp 2 --ep
    run check check "$d" --device cpu --tp 2 --layers 0 --max-memory 1M
done
for n in fixtures/negative/*; do
    run check check "$n" --device cpu --tp 2 --against fixtures/quant/tiny-llama-f32
    run check check "$n" --device cpu --tp 2 --against fixtures/moe/tiny-mixtral
done
run check check fixtures/quant/tiny-llama-w4a16 --device cpu --tp 2 --against fixtures/quant/tiny-llama-f32
run check check fixtures/real/tiny-qwen2 --device cpu --tp 4 --rules fixtures/rules/qwen2-o-proj-column.json
run check check fixtures/real/tiny-qwen2 --device cpu --tp 4 --pp 2 --max-memory 400K --layers 0,1
run check check fixtures/real/tiny-qwen2 --device cpu --load-only --tp 2
run check check fixtures/real/tiny-qwen2 --device cpu --tokens 1,2,3
rm -f "$out/.rc"
exit 0
