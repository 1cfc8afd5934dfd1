/* setup.h - choosing rules for a checkpoint (shared by lint, explain and rules). */
#ifndef CK_SETUP_H
#define CK_SETUP_H

#include "inspect/ckpt.h"
#include "loader/plan.h"
#include "rules/rules.h"

/* --tp (opt 't') or --pp (opt 'p') into lay: 0, or -1 with the message for `cmd` printed. */
int parse_tp_pp(int opt, const char *arg, plan_layout *lay, const char *cmd);
/* Whether r's match list fits config.json. */
int rules_match(const rules_file *r, const ck_config *c);
/* rules as a file or a built-in name; NULL: the built-in that matches cfg. path names the
 * checkpoint in errors. Returns CK_OK or an error code with err filled. */
int choose_rules(const char *path, const char *rules, const ck_config *cfg, rules_file *r, ck_err *err);
/* The family a checkpoint's key names suggest ("Qwen2 (q/k/v projections with bias, ...)"). */
const char *keys_look_like(const ck_checkpoint *ck, char *buf, size_t size);

#endif
