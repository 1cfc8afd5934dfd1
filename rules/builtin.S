/* builtin.S - embeds every JSON file of rules/builtin/ into the binary, each NUL-terminated, with
 * a table of (name, text) pairs ended by a null pair, so that an installed ckptdoc needs no data
 * files. The list comes from builtin_list.inc, which make writes from the folder: adding a family
 * is dropping its JSON file there (named as its "name") and rebuilding. */
    .section .rodata
#define RULE(i, name, file) ck_rule_text_##i: .incbin file; .byte 0; ck_rule_name_##i: .asciz name; .balign 8;
#include "builtin_list.inc"
#undef RULE

    .section .data.rel.ro,"aw"
    .balign 8
    .global ck_rules_builtin
ck_rules_builtin:
#define RULE(i, name, file) .quad ck_rule_name_##i, ck_rule_text_##i;
#include "builtin_list.inc"
    .quad 0, 0

    .section .note.GNU-stack,"",@progbits
