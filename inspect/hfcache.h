/* hfcache.h - a Hugging Face repo id (ORG/NAME, optionally @REVISION) found in the local Hub
 * cache, so that a command given a repo id instead of a folder reads the snapshot already on disk.
 * Searched in order: $HF_HUB_CACHE, $HF_HOME/hub, $XDG_CACHE_HOME/huggingface/hub,
 * ~/.cache/huggingface/hub; in each, models--ORG--NAME/snapshots/ at the commit refs/REVISION
 * names (refs/main without a revision), or the snapshot folder of that name, or, without a
 * revision and without refs/main, the only snapshot there is. Reads directories and small ref
 * files only. */
#ifndef CK_HFCACHE_H
#define CK_HFCACHE_H

#include <stddef.h>

/* 1 when s reads as a repo id (ORG/NAME[@REV]: two parts of letters, digits, '.', '_', '-', the
 * first not starting with '.'), 0 otherwise. */
int hf_repo_id_like(const char *s);
/* 1 with the snapshot folder in out (size n), 0 when no cache holds it. */
int hf_cache_find(const char *repo_id, char *out, size_t n);

#endif
