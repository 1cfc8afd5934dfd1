/* tree.h - the key hierarchy of a checkpoint for browsing: "model.layers.61.mlp.experts.17.
 * down_proj.weight" becomes model > layers > 61 > mlp > experts > 17 > down_proj > weight, each
 * node with its tensor count, elements and bytes rolled up, numeric children in numeric order,
 * and the most severe finding of its subtree. Plain data and functions, no terminal: the TUI
 * draws it, the tests check it.
 * Whoever calls tree_build calls tree_free; node paths live in the tree and stay valid until then,
 * while node.tensor indexes ck->tensors of the checkpoint it was built from. Not thread-safe:
 * tree_build and tree_children sort through one static context. */
#ifndef CK_TREE_H
#define CK_TREE_H

#include <stddef.h>
#include <stdint.h>

#include "inspect/ckpt.h"
#include "base/finding.h"

#define TREE_NO_SEV (-1)

typedef struct {
    const char *path;   /* full dotted path from the root ("model.layers.61"), NUL-terminated */
    uint32_t name_off;  /* the last component starts at path + name_off */
    int32_t parent;     /* -1 for the root */
    int32_t first;      /* children: kids[first .. first + n_kids), in name order */
    int32_t n_kids;
    int64_t tensor;     /* index into ck->tensors when a tensor has exactly this name, else -1 */
    int64_t num;        /* the component as a number, -1 when it is not one */
    uint64_t count, elems, bytes; /* tensors, elements and bytes in the subtree */
    int8_t sev;         /* most severe finding in the subtree, TREE_NO_SEV when none */
    int8_t own_sev;     /* most severe finding on this node itself */
    int32_t n_own;      /* findings on this node */
} tree_node;

typedef struct {
    tree_node *n;       /* (nn) node 0 is the root (path "") */
    size_t nn;
    int32_t *kids;      /* child lists, name-sorted */
    char *arena;        /* node paths */
    strmap by_path;     /* path -> node */
    const ck_findings *f; /* attached findings (borrowed), see tree_attach */
    int32_t *fnode;     /* (f->n) the node each finding is on */
} ck_tree;

/* Builds the tree of ck's tensors. 0, or -1 when out of memory (t zeroed). */
int tree_build(const ck_checkpoint *ck, ck_tree *t);
/* Frees everything t holds (not the attached findings) and leaves it zeroed; accepts NULL and a
 * zeroed tree. */
void tree_free(ck_tree *t);
/* Marks findings on their nodes: a finding's key is looked up as a tensor name, then with
 * `prefix` prepended (a loader's parameter name without "model."), then by its longest dotted
 * prefix that is a node; one about no key goes to the root. f must outlive t and not grow while
 * attached (fnode has f->n entries). May be called again with other findings. 0, or -1 when out of
 * memory: no findings are attached then (t->fnode and t->f NULL; the severities stay as they were). */
int tree_attach(ck_tree *t, const ck_findings *f, const char *prefix);
/* The node of a dotted path ("" is the root), or -1. */
int32_t tree_find(const ck_tree *t, const char *path);
/* The last component of node i's path. */
static inline const char *tree_name(const ck_tree *t, int32_t i)
{
    return t->n[i].path + t->n[i].name_off;
}
/* Writes "model > layers > 61" for node i ("/" for the root) into buf, NUL-terminated and
 * truncated to fit; returns buf. */
const char *tree_breadcrumb(const ck_tree *t, int32_t i, char *buf, size_t size);
/* Children of `dir` to show, in order: by name (numbers numerically) or by bytes (largest
 * first); only those with findings when only_findings; only those whose subtree holds a tensor
 * matching `filter` (substring, or a glob with * ? [ when it has one of those) when filter is
 * non-empty. Writes up to cap indices into out; returns how many there are (when more than cap,
 * out holds the first cap in name order, not sorted by bytes). */
size_t tree_children(const ck_tree *t, int32_t dir, int by_size, int only_findings,
                     const char *filter, int32_t *out, size_t cap);
/* Whether node i's subtree has a tensor whose full name matches filter. */
int tree_matches(const ck_tree *t, int32_t i, const char *filter);
/* The next (dir > 0) or previous node in depth-first order, after `from`, that carries a finding
 * itself, wrapping around (from < 0: from the root); -1 when there is none. */
int32_t tree_next_finding(const ck_tree *t, int32_t from, int dir);

#endif
