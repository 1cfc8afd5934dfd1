/* hub.h - a Hugging Face Hub repo read over HTTP for what the header-level commands need:
 * config.json, the shard index and the first bytes of every shard (8 bytes of length, then the
 * safetensors header), fetched with range requests, never the tensor data. They are kept in a
 * cache folder, CACHE/hub/ORG--NAME/REV/, where each shard is a sparse file of the shard's real
 * size (from the response's Content-Range total) holding its header at the start: every reader
 * of this program opens it as it opens a downloaded folder, and a second run is instant and works
 * offline. Online, a cached revision that is not a commit hash is checked first with one byte of
 * config.json: the same X-Repo-Commit (else ETag) as when it was fetched keeps the cache, another
 * fetches again; no answer keeps it too. A file .ckptdoc-headers-only marks such a folder: commands that need the data
 * (check, inspect --verify) refuse it (ckpt.h: ck->headers_only).
 *
 * The endpoint is $HF_ENDPOINT (default https://huggingface.co): GET
 * {endpoint}/{ORG/NAME}/resolve/{REV}/{file}, redirects followed; $HF_TOKEN, else the token file
 * ($HF_TOKEN_PATH, $HF_HOME/token, ~/.cache/huggingface/token), as a bearer token for gated
 * repos. The cache is $CKPTDOC_CACHE, else $XDG_CACHE_HOME/ckptdoc, else ~/.cache/ckptdoc;
 * CKPTDOC_REFRESH=1 fetches again. $CKPTDOC_HTTP_TIMEOUT (seconds, default 60) bounds each
 * transfer; failures of the connection or 5xx answers are retried twice with back-off. Built
 * without libcurl, hub_fetch says so. */
#ifndef CK_HUB_H
#define CK_HUB_H

#include <stddef.h>
#include <stdint.h>

#include "base/ckerr.h"

#define HUB_MARKER ".ckptdoc-headers-only"

typedef struct {
    int files;           /* shards whose headers were fetched */
    uint64_t bytes;      /* bytes received, config and index included */
    int cached;          /* 1: the cache held it already (revalidated, or a commit, or offline),
                          * 2: held it but the server did not answer the check */
} hub_stats;

/* Whether the network must not be used: HF_HUB_OFFLINE set to 1 (or true, yes). */
int hub_offline(void);
/* The repo id ORG/NAME[@REV] read from the Hub (endpoint, or NULL: $HF_ENDPOINT, else the public
 * Hub) into the cache; out (size n) gets the folder.
 * CK_OK; CK_EIO with err saying what failed: the repo or revision not found (404), a gated repo
 * without a token that opens it (401/403, and how to log in), a file the index names that the
 * repo lacks, the server unreachable or too slow. */
int hub_fetch(const char *repo_id, const char *endpoint, char *out, size_t n, hub_stats *st, ck_err *err);
/* A folder's URL on a Hub, http(s)://HOST/ORG/NAME, optionally followed by /tree/REV or
 * /resolve/REV: 1 with the endpoint (http(s)://HOST) and the repo id (ORG/NAME[@REV]); 0 when
 * url is not one. */
int hub_url(const char *url, char *endpoint, size_t en, char *repo_id, size_t rn);

#endif
