/* sniff.c - magic-byte and text checks for files that are not safetensors. */
#include "inspect/sniff.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

int lfs_pointer_parse(const uint8_t *b, size_t len, lfs_pointer *out)
{
    static const char ver[] = "version https://git-lfs.github.com/spec/v1\n";
    static const char ver_old[] = "version https://hawser.github.com/spec/v1\n";
    if (len > SNIFF_BYTES)
        return -1;
    char text[SNIFF_BYTES + 1];
    memcpy(text, b, len);
    text[len] = 0;
    if (strlen(text) != len)
        return -1;
    if (strncmp(text, ver, sizeof ver - 1) != 0 && strncmp(text, ver_old, sizeof ver_old - 1) != 0)
        return -1;
    lfs_pointer p;
    memset(&p, 0, sizeof p);
    int have_oid = 0, have_size = 0;
    char *save = NULL;
    for (char *line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        size_t l = strlen(line);
        if (l && line[l - 1] == '\r')
            line[l - 1] = 0;
        if (strncmp(line, "oid sha256:", 11) == 0) {
            const char *h = line + 11;
            if (strlen(h) != 64)
                return -1;
            for (int i = 0; i < 64; i++) {
                if (!isxdigit((unsigned char)h[i]))
                    return -1;
                p.oid[i] = (char)tolower((unsigned char)h[i]);
            }
            have_oid = 1;
        } else if (strncmp(line, "size ", 5) == 0) {
            const char *d = line + 5;
            if (!*d)
                return -1;
            uint64_t v = 0;
            for (; *d; d++) {
                if (*d < '0' || *d > '9' || v > (UINT64_MAX - 9) / 10)
                    return -1;
                v = v * 10 + (uint64_t)(*d - '0');
            }
            p.size = v;
            have_size = 1;
        }
    }
    if (!have_oid || !have_size)
        return -1;
    if (out)
        *out = p;
    return 0;
}

static int starts_ci(const uint8_t *b, size_t len, const char *s)
{
    size_t l = strlen(s);
    return len >= l && strncasecmp((const char *)b, s, l) == 0;
}

static int mostly_text(const uint8_t *b, size_t len)
{
    size_t bad = 0;
    for (size_t i = 0; i < len; i++)
        if (b[i] < 0x20 && b[i] != '\n' && b[i] != '\r' && b[i] != '\t')
            bad++;
    return len > 0 && bad == 0;
}

sniff_kind sniff_bytes(const uint8_t *b, size_t len, uint64_t file_size, lfs_pointer *ptr)
{
    if (file_size == 0)
        return SNIFF_EMPTY;
    if (len >= 8 && memcmp(b, "version ", 8) == 0 && file_size <= SNIFF_BYTES &&
        lfs_pointer_parse(b, len, ptr) == 0)
        return SNIFF_LFS_POINTER;
    if (len >= 4 && memcmp(b, "PK\x03\x04", 4) == 0)
        return SNIFF_TORCH_ZIP;
    if (len >= 2 && b[0] == 0x80 && b[1] >= 2 && b[1] <= 5)
        return SNIFF_TORCH_PICKLE;
    if (len >= 4 && memcmp(b, "GGUF", 4) == 0)
        return SNIFF_GGUF;
    size_t i = 0;
    while (i < len && (b[i] == ' ' || b[i] == '\n' || b[i] == '\r' || b[i] == '\t'))
        i++;
    if (starts_ci(b + i, len - i, "<!doctype html") || starts_ci(b + i, len - i, "<html") ||
        starts_ci(b + i, len - i, "<?xml") || starts_ci(b + i, len - i, "<head"))
        return SNIFF_HTML;
    if (i < len && (b[i] == '{' || b[i] == '[') && mostly_text(b, len))
        return SNIFF_JSON;
    if (mostly_text(b, len))
        return SNIFF_TEXT;
    return SNIFF_UNKNOWN;
}

const char *sniff_code(sniff_kind k)
{
    switch (k) {
    case SNIFF_EMPTY: return "file.empty";
    case SNIFF_LFS_POINTER: return "file.lfs_pointer";
    case SNIFF_HTML: return "file.html";
    case SNIFF_JSON: return "file.json";
    case SNIFF_TEXT: return "file.text";
    case SNIFF_TORCH_ZIP: return "file.pytorch_zip";
    case SNIFF_TORCH_PICKLE: return "file.pytorch_pickle";
    case SNIFF_GGUF: return "file.gguf";
    default: return "file.unknown";
    }
}

const char *sniff_what(sniff_kind k)
{
    switch (k) {
    case SNIFF_EMPTY: return "an empty file";
    case SNIFF_LFS_POINTER: return "a git-lfs pointer";
    case SNIFF_HTML: return "an HTML page";
    case SNIFF_JSON: return "a JSON document";
    case SNIFF_TEXT: return "a text file";
    case SNIFF_TORCH_ZIP: return "a PyTorch zip checkpoint";
    case SNIFF_TORCH_PICKLE: return "a legacy PyTorch pickle";
    case SNIFF_GGUF: return "a GGUF file";
    default: return "an unrecognised file";
    }
}
