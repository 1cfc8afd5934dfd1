/* text.h - small text helpers shared by every layer: how far apart two names are, and the
 * nearest of a list, for "did you mean" hints. Pure functions; nothing is allocated. */
#ifndef CK_TEXT_H
#define CK_TEXT_H

#include <stddef.h>

/* Edits (insertions, deletions, substitutions) between two short names; 64 past 62 characters. */
size_t text_edit_distance(const char *a, const char *b);
/* The entry of names (n of them) nearest to word, at most max_edits away and not equal to it;
 * NULL when none is. */
const char *text_nearest(const char *word, const char *const *names, size_t n, size_t max_edits);
/* The 1-based line and column of byte off of text (stopping at a NUL), for messages. */
void text_line_col(const char *text, size_t off, int *line, int *col);

#endif
