/* hfcache.c - repo ids found in the local Hugging Face cache (see hfcache.h). */
#include "inspect/hfcache.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static int id_char(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' || c == '_' ||
           c == '-';
}

int hf_repo_id_like(const char *s)
{
    size_t a = 0, b = 0;
    while (id_char(s[a]))
        a++;
    if (!a || s[0] == '.' || s[a] != '/')
        return 0;
    const char *n = s + a + 1;
    while (id_char(n[b]))
        b++;
    return b > 0 && n[0] != '.' && (n[b] == 0 || (n[b] == '@' && n[b + 1]));
}

static int is_dir(const char *p)
{
    struct stat st;
    return stat(p, &st) == 0 && S_ISDIR(st.st_mode);
}

/* The snapshot of one cache folder (models--ORG--NAME), or 0. */
static int snapshot(const char *repo_dir, const char *rev, char *out, size_t n)
{
    char ref[4200], commit[128] = "";
    if ((size_t)snprintf(ref, sizeof ref, "%s/refs/%s", repo_dir, rev ? rev : "main") >= sizeof ref)
        return 0;
    FILE *f = fopen(ref, "r");
    if (f) {
        if (fgets(commit, sizeof commit, f))
            commit[strcspn(commit, "\r\n")] = 0;
        fclose(f);
    }
    if (commit[0] && !strchr(commit, '/') && (size_t)snprintf(out, n, "%s/snapshots/%s", repo_dir, commit) < n &&
        is_dir(out))
        return 1;
    if (rev && !strchr(rev, '/') && (size_t)snprintf(out, n, "%s/snapshots/%s", repo_dir, rev) < n && is_dir(out))
        return 1;
    if (rev)
        return 0;
    /* no refs/main: the one snapshot there is */
    char snaps[4200];
    if ((size_t)snprintf(snaps, sizeof snaps, "%s/snapshots", repo_dir) >= sizeof snaps)
        return 0;
    DIR *d = opendir(snaps);
    if (!d)
        return 0;
    int found = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.')
            continue;
        if ((size_t)snprintf(out, n, "%s/%s", snaps, e->d_name) >= n || !is_dir(out))
            continue;
        if (++found > 1)
            break;
    }
    closedir(d);
    return found == 1; /* out holds the last (the only) one */
}

int hf_cache_find(const char *repo_id, char *out, size_t n)
{
    if (!hf_repo_id_like(repo_id))
        return 0;
    char id[512], *rev = NULL;
    snprintf(id, sizeof id, "%s", repo_id);
    if ((rev = strchr(id, '@')) != NULL)
        *rev++ = 0;
    char *slash = strchr(id, '/');
    *slash = 0;
    const char *org = id, *name = slash + 1;
    const char *env[4];
    char bufs[4][4096];
    int k = 0;
    const char *v;
    if ((v = getenv("HF_HUB_CACHE")) && *v)
        env[k++] = v;
    if ((v = getenv("HF_HOME")) && *v)
        snprintf(bufs[k], sizeof bufs[k], "%s/hub", v), env[k] = bufs[k], k++;
    if ((v = getenv("XDG_CACHE_HOME")) && *v)
        snprintf(bufs[k], sizeof bufs[k], "%s/huggingface/hub", v), env[k] = bufs[k], k++;
    if ((v = getenv("HOME")) && *v)
        snprintf(bufs[k], sizeof bufs[k], "%s/.cache/huggingface/hub", v), env[k] = bufs[k], k++;
    for (int i = 0; i < k; i++) {
        char repo_dir[4096];
        if ((size_t)snprintf(repo_dir, sizeof repo_dir, "%s/models--%s--%s", env[i], org, name) >= sizeof repo_dir)
            continue;
        if (is_dir(repo_dir) && snapshot(repo_dir, rev, out, n))
            return 1;
    }
    return 0;
}
