/* builtin.S - embeds the JSON files of rules/builtin/ into the binary, each NUL-terminated, so that an
 * installed ckptdoc needs no data files. Adding a family: a JSON file, a RULE line here and a
 * line in builtin.c. Paths are relative to the repository root, where make runs. */
#define RULE(sym, file)                                                                           \
    .global sym;                                                                                  \
    .balign 8;                                                                                    \
sym:                                                                                              \
    .incbin file;                                                                                 \
    .byte 0

    .section .rodata
RULE(ck_rules_deepseek_v3, "rules/builtin/deepseek_v3.json")
RULE(ck_rules_qwen2, "rules/builtin/qwen2.json")
RULE(ck_rules_llama, "rules/builtin/llama.json")
RULE(ck_rules_mixtral, "rules/builtin/mixtral.json")
RULE(ck_rules_deepseek_ref, "rules/builtin/deepseek_ref.json")
RULE(ck_rules_deepseek_v3_hf, "rules/builtin/deepseek_v3-hf.json")

    .section .note.GNU-stack,"",@progbits
