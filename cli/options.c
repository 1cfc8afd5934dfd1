/* options.c - the layout options every command shares (see options.h). */
#include "cli/options.h"
#include "cli/cli.h"
#include "base/fileio.h"
#include "base/text.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

void layout_opts_init(layout_opts *o, const char *cmd)
{
    memset(o, 0, sizeof *o);
    o->cmd = cmd;
    o->layout.tp = o->layout.pp = 1;
}

int cli_int(const char *s, long lo, long hi, int *out)
{
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (end == s || *end || errno || v < lo || v > hi)
        return -1;
    *out = (int)v;
    return 0;
}

int layout_opt_take(layout_opts *o, int c, const char *arg)
{
    switch (c) {
    case 'r': o->rules = arg; return 1;
    case 't':
    case 'p': {
        int max = c == 'p' ? PLAN_MAX_PP : 4096;
        if (cli_int(arg, 1, max, c == 't' ? &o->layout.tp : &o->layout.pp)) {
            fprintf(stderr, "ckptdoc %s: --%s must be an integer from 1 to %d, not '%s'\n", o->cmd,
                    c == 't' ? "tp" : "pp", max, arg);
            return -1;
        }
        return 1;
    }
    case 'e': o->layout.ep = 1; return 1;
    case 'P': o->partition = arg; return 1;
    case 'h': o->help = 1; return 1;
    default: return 0;
    }
}

int layout_opts_finish(layout_opts *o)
{
    if (!o->partition)
        return 0;
    int n = 0;
    char buf[512];
    snprintf(buf, sizeof buf, "%s", o->partition);
    memset(o->layout.partition, 0, sizeof o->layout.partition);
    o->layout.has_partition = 1;
    for (char *save = NULL, *t = strtok_r(buf, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
        if (n == PLAN_MAX_PP || cli_int(t, 0, 1 << 20, &o->layout.partition[n])) {
            fprintf(stderr, "ckptdoc %s: --pp-partition: \"%s\" is not a list of layer counts "
                    "(vLLM: \"Invalid partition string: %s\")\n", o->cmd, o->partition, o->partition);
            return -1;
        }
        n++;
    }
    if (n != o->layout.pp) {
        fprintf(stderr, "ckptdoc %s: --pp-partition has %d stages but --pp is %d (vLLM: \"len(partitions)=%d "
                "does not match pp_size=%d.\")\n", o->cmd, n, o->layout.pp, n, o->layout.pp);
        return -1;
    }
    return 0;
}

/* The option named name, or NULL with *near the nearest (at most two edits away) or NULL. */
static const struct option *option_named(const struct option *opts, const char *name, const char **near)
{
    const char *names[128];
    size_t n = 0;
    *near = NULL;
    for (const struct option *o = opts; o && o->name; o++) {
        if (strcmp(o->name, name) == 0)
            return o;
        if (n < sizeof names / sizeof *names)
            names[n++] = o->name;
    }
    *near = text_nearest(name, names, n, 2);
    return NULL;
}

void cli_misuse(const char *cmd, int argc, char **argv, const struct option *opts)
{
    for (int i = 1; i < argc && strcmp(argv[i], "--") != 0; i++) {
        if (strncmp(argv[i], "--", 2) != 0 || !argv[i][2])
            continue;
        char name[64];
        snprintf(name, sizeof name, "%.*s", (int)strcspn(argv[i] + 2, "="), argv[i] + 2);
        const char *near;
        if (!option_named(opts, name, &near) && near)
            fprintf(stderr, "ckptdoc %s: did you mean --%s (not --%s)?\n", cmd, near, name);
    }
    fprintf(stderr, "Run 'ckptdoc %s --help' for its options.\n", cmd);
}

#define CONFIG_NAME ".ckptdoc.json"

static int is_dir(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

/* The nearest .ckptdoc.json from the current directory up to the repository's root (or /) into
 * path; 0 when there is none. */
static int repo_config(char *path, size_t size)
{
    char dir[PATH_MAX];
    if (!getcwd(dir, sizeof dir))
        return 0;
    for (;;) {
        struct stat st;
        snprintf(path, size, "%s/%s", dir, CONFIG_NAME);
        if (stat(path, &st) == 0)
            return 1;
        char git[PATH_MAX + 8];
        snprintf(git, sizeof git, "%s/.git", dir);
        char *slash = strrchr(dir, '/');
        if (stat(git, &st) == 0 || !slash || slash == dir)
            return 0;
        *slash = 0;
    }
}

/* One option from a config file's key and value into out[*n] (and out[*n + 1]); 0, or -1 with
 * the message printed. */
static int config_option(const char *file, const char *cmd, const struct option *opts, const cJSON *v,
                         char **out, int *n)
{
    char name[64];
    snprintf(name, sizeof name, "%s", v->string);
    for (char *c = name; *c; c++)
        if (*c == '_')
            *c = '-';
    const char *near;
    const struct option *o = option_named(opts, name, &near);
    if (!o || strcmp(o->name, "help") == 0) {
        fprintf(stderr, "ckptdoc %s: %s: \"%s\".\"%s\" is not an option of ckptdoc %s%s%s%s\n", cmd, file, cmd,
                v->string, cmd, near ? " (did you mean \"" : "", near ? near : "", near ? "\"?)" : "");
        return -1;
    }
    char val[2048] = "";
    if (o->has_arg == no_argument) {
        if (!cJSON_IsBool(v)) {
            fprintf(stderr, "ckptdoc %s: %s: \"%s\".\"%s\" is a flag: write true or false\n", cmd, file, cmd,
                    v->string);
            return -1;
        }
        if (cJSON_IsFalse(v))
            return 0;
    } else if (cJSON_IsString(v))
        snprintf(val, sizeof val, "%s", v->valuestring);
    else if (cJSON_IsNumber(v))
        snprintf(val, sizeof val, "%.17g", v->valuedouble);
    else if (cJSON_IsArray(v) && cJSON_GetArraySize(v) > 0) {
        const cJSON *e;
        size_t len = 0;
        cJSON_ArrayForEach(e, v)
        {
            if (!cJSON_IsString(e) && !cJSON_IsNumber(e)) {
                fprintf(stderr, "ckptdoc %s: %s: \"%s\".\"%s\": a list holds strings or numbers\n", cmd, file,
                        cmd, v->string);
                return -1;
            }
            if (cJSON_IsString(e))
                len += (size_t)snprintf(val + len, sizeof val - len, "%s%s", len ? "," : "", e->valuestring);
            else
                len += (size_t)snprintf(val + len, sizeof val - len, "%s%.17g", len ? "," : "", e->valuedouble);
            if (len >= sizeof val)
                len = sizeof val - 1;
        }
    } else {
        fprintf(stderr, "ckptdoc %s: %s: \"%s\".\"%s\" takes a value: a string, a number or a list\n", cmd,
                file, cmd, v->string);
        return -1;
    }
    char flag[80];
    snprintf(flag, sizeof flag, "--%s", o->name);
    if (!(out[(*n)++] = strdup(flag)) || (o->has_arg != no_argument && !(out[(*n)++] = strdup(val)))) {
        fprintf(stderr, "ckptdoc %s: out of memory\n", cmd);
        return -1;
    }
    return 0;
}

/* The options of cmd in config file path, appended to out (*n of cap used); 0, or -1. */
static int config_file(const char *path, const char *cmd, const struct option *opts, char **out, int *n, int cap)
{
    size_t len;
    const char *why = NULL;
    char *text = ck_read_small(path, 1u << 20, &len, &why);
    if (!text) {
        const char *env = getenv("CKPTDOC_CONFIG");
        fprintf(stderr, "ckptdoc %s: %s: %s%s%s\n", cmd, path, why, strcmp(why, "file too large") == 0 ? " (a "
                "config file holds at most 1 MiB)" : "", env && *env ? "; it is CKPTDOC_CONFIG's: fix or unset it, or "
                "set CKPTDOC_CONFIG=none to read no config file" : "");
        return -1;
    }
    const char *end = NULL;
    cJSON *root = cJSON_ParseWithOpts(text, &end, 0);
    int rc = 0;
    if (!cJSON_IsObject(root)) {
        int line, col;
        text_line_col(text, end ? (size_t)(end - text) : 0, &line, &col);
        fprintf(stderr, "ckptdoc %s: %s: line %d, column %d: %s\n", cmd, path, line, col,
                root ? "the file holds one JSON object, {\"lint\": {...}, ...}" : "not valid JSON");
        rc = -1;
    }
    static const char *const cmds[] = {"inspect", "lint", "explain", "check", "tui"};
    const cJSON *sec, *sections = rc ? NULL : root;
    cJSON_ArrayForEach(sec, sections)
    {
        int known = 0;
        for (unsigned k = 0; k < sizeof cmds / sizeof *cmds; k++)
            known |= strcmp(sec->string, cmds[k]) == 0;
        const char *near = text_nearest(sec->string, cmds, sizeof cmds / sizeof *cmds, 2);
        if (!known) {
            fprintf(stderr, "ckptdoc %s: %s: \"%s\" is not a command (inspect, lint, explain, check, tui)%s%s%s\n",
                    cmd, path, sec->string, near ? "; did you mean \"" : "", near ? near : "", near ? "\"?" : "");
            rc = -1;
            break;
        }
        if (strcmp(sec->string, cmd) != 0)
            continue;
        if (!cJSON_IsObject(sec)) {
            fprintf(stderr, "ckptdoc %s: %s: \"%s\" holds an object of options\n", cmd, path, cmd);
            rc = -1;
            break;
        }
        const cJSON *v;
        cJSON_ArrayForEach(v, sec)
        {
            if (*n + 2 > cap) {
                fprintf(stderr, "ckptdoc %s: %s: too many options\n", cmd, path);
                rc = -1;
                break;
            }
            if ((rc = config_option(path, cmd, opts, v, out, n)) != 0)
                break;
        }
    }
    cJSON_Delete(root);
    free(text);
    return rc;
}

/* The argv cli_config_args made and the option strings it holds, freed at exit; the file each
 * came from. */
static char **made_argv, **made_opts;
static int made_n;
static char made_files[2][sizeof(char[PATH_MAX + 32])];
static int *made_file;

const char *cli_value_origin(const char *value)
{
    for (int i = 0; i < made_n; i++)
        if (made_opts[i] == value)
            return made_files[made_file[i]];
    return NULL;
}

static void free_made(void)
{
    for (int i = 0; i < made_n; i++)
        free(made_opts[i]);
    free(made_opts);
    free(made_argv);
    free(made_file);
    made_file = NULL;
    made_argv = made_opts = NULL;
    made_n = 0;
}

int cli_config_args(const char *cmd, const struct option *opts, int *argc, char ***argv)
{
    char files[2][PATH_MAX + 32], real[2][PATH_MAX];
    int nf = 0;
    const char *env = getenv("CKPTDOC_CONFIG");
    if (env && strcmp(env, "none") == 0)
        return 0;
    if (env && *env)
        snprintf(files[nf++], sizeof files[0], "%s", env);
    else {
        if (repo_config(files[nf], sizeof files[nf]))
            nf++;
        int options = 1; /* until "--" */
        for (int i = 1; i < *argc; i++) { /* the model folder: the first argument that is neither an
                                            * option nor an option's value (--against DIR is not it) */
            const char *a = (*argv)[i];
            if (options && strcmp(a, "--") == 0) {
                options = 0;
                continue;
            }
            if (options && a[0] == '-' && a[1]) {
                char name[64];
                const char *near, *s = a + strspn(a, "-");
                snprintf(name, sizeof name, "%.*s", (int)strcspn(s, "="), s);
                const struct option *o = option_named(opts, name, &near);
                if (o && o->has_arg == required_argument && !strchr(s, '='))
                    i++; /* its value */
                continue;
            }
            if (!is_dir(a))
                continue;
            struct stat st;
            snprintf(files[nf], sizeof files[nf], "%s/%s", a, CONFIG_NAME);
            if (stat(files[nf], &st) == 0 && !(nf == 1 && realpath(files[0], real[0]) &&
                                               realpath(files[1], real[1]) && strcmp(real[0], real[1]) == 0))
                nf++;
            break;
        }
    }
    if (!nf)
        return 0;
    int cap = *argc + 256, n = 0;
    char **extra = calloc((size_t)cap, sizeof *extra);
    if (!extra) {
        fprintf(stderr, "ckptdoc %s: out of memory\n", cmd);
        return -1;
    }
    int *from = calloc((size_t)cap, sizeof *from);
    for (int f = 0; f < nf && from; f++) {
        int before = n;
        if (config_file(files[f], cmd, opts, extra, &n, 256) != 0) {
            for (int i = 0; i < n; i++)
                free(extra[i]);
            free(extra);
            free(from);
            return -1;
        }
        for (int i = before; i < n; i++)
            from[i] = f;
    }
    char **nv = from ? calloc((size_t)(*argc + n + 1), sizeof *nv) : NULL;
    if (!nv) {
        for (int i = 0; i < n; i++)
            free(extra[i]);
        free(extra);
        free(from);
        fprintf(stderr, "ckptdoc %s: out of memory\n", cmd);
        return -1;
    }
    int k = 0;
    nv[k++] = (*argv)[0]; /* the command's name stays first */
    for (int i = 0; i < n; i++)
        nv[k++] = extra[i];
    for (int i = 1; i < *argc; i++)
        nv[k++] = (*argv)[i];
    static int registered;
    free_made(); /* a second call (a test running commands in one process) replaces the first */
    if (!registered++)
        atexit(free_made);
    made_argv = nv;
    made_opts = extra;
    made_n = n;
    made_file = from;
    for (int f = 0; f < nf; f++)
        memcpy(made_files[f], files[f], sizeof made_files[f]);
    *argc = k;
    *argv = made_argv;
    return 0;
}

int cli_choice(const char *cmd, const char *opt, const char *value, const char *const *choices, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(value, choices[i]) == 0)
            return (int)i;
    char list[256] = "";
    for (size_t i = 0; i < n; i++) {
        size_t l = strlen(list);
        snprintf(list + l, sizeof list - l, "%s%s", i == 0 ? "" : i + 1 == n ? " or " : ", ", choices[i]);
    }
    const char *near = text_nearest(value, choices, n, 2), *file = cli_value_origin(value);
    fprintf(stderr, "ckptdoc %s: --%s must be %s, not '%s'%s%s%s%s%s%s\n", cmd, opt, list, value,
            near ? " (did you mean " : "", near ? near : "", near ? "?)" : "", file ? " (set in " : "",
            file ? file : "", file ? ")" : "");
    return -1;
}
