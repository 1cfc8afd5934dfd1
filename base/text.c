/* text.c - see text.h. */
#include "base/text.h"

#include <string.h>

size_t text_edit_distance(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b), row[64];
    if (la >= 63 || lb >= 63)
        return 64;
    for (size_t j = 0; j <= lb; j++)
        row[j] = j;
    for (size_t i = 1; i <= la; i++) {
        size_t diag = row[0];
        row[0] = i;
        for (size_t j = 1; j <= lb; j++) {
            size_t up = row[j], best = diag + (a[i - 1] != b[j - 1]);
            if (up + 1 < best)
                best = up + 1;
            if (row[j - 1] + 1 < best)
                best = row[j - 1] + 1;
            diag = up;
            row[j] = best;
        }
    }
    return row[lb];
}

const char *text_nearest(const char *word, const char *const *names, size_t n, size_t max_edits)
{
    const char *near = NULL;
    size_t best = max_edits + 1;
    for (size_t i = 0; i < n; i++) {
        size_t d = text_edit_distance(word, names[i]);
        if (d && d < best)
            best = d, near = names[i];
    }
    return near;
}

void text_line_col(const char *text, size_t off, int *line, int *col)
{
    *line = 1;
    *col = 1;
    for (size_t i = 0; i < off && text[i]; i++) {
        if (text[i] == '\n') {
            (*line)++;
            *col = 1;
        } else
            (*col)++;
    }
}
