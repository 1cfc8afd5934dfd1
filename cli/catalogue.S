/* catalogue.S - embeds docs/findings.md (the catalogue of finding codes) into the binary,
 * NUL-terminated, for `ckptdoc explain CODE` (run from the repository root, as builtin.S). */
    .section .rodata
    .global ck_findings_doc
ck_findings_doc:
    .incbin "docs/findings.md"
    .byte 0

    .section .note.GNU-stack,"",@progbits
