/* Deployment properties, as SCDF spells them: app.<label>.<option>,
 * app.*.<option>, deployer.<label>.<prop>, deployer.*.<prop> and
 * deployer.packaging. Pure functions over a jansson object, so that they
 * can be unit-tested. */
#ifndef SRV_PROPS_H
#define SRV_PROPS_H

#include <flow/dsl.h>
#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "error.h"

#define SRV_MAX_COUNT 64

/* A stream's delivery guarantee (flow.guarantee), weakest first. */
typedef enum srv_guarantee {
    SRV_GUARANTEE_NONE,
    SRV_GUARANTEE_AT_LEAST_ONCE,
    SRV_GUARANTEE_EXACTLY_ONCE,
} srv_guarantee;

/* The stream-level flow.* properties, with their defaults. */
typedef struct srv_flow_props {
    srv_guarantee guarantee; /* exactly-once unless given */
    bool guarantee_set;      /* flow.guarantee was given */
    int64_t interval_ms;     /* flow.checkpoint.interval, 1s */
    int64_t timeout_ms;      /* flow.checkpoint.timeout, 10s */
    int retain;              /* flow.checkpoint.retain, 3 */
    int key_groups;          /* flow.key-groups, 128 */
} srv_flow_props;

/* "exactly-once", "at-least-once" or "none" (static). */
const char *srv_guarantee_name(srv_guarantee g);

/* A duration: a whole number with ms, s or m after it (milliseconds
 * without a unit), into *out in milliseconds. 0, or -1 when it is not
 * one (or over a day). */
int srv_props_duration_ms(const char *v, int64_t *out);

/* The flow.* properties of a normalised object (srv_props_parse's, which
 * checked them; NULL: none) into *out (the caller's), defaults for those
 * not given. */
void srv_props_flow(const json_t *props, srv_flow_props *out);

/* Checks a properties object against the stream's labels and returns a
 * normalised copy (every value a string) in *out (new reference). On a
 * problem returns -SRV_EPROPS with a message in err naming the key and the
 * allowed forms, or -SRV_ENOMEM. props may be NULL (no properties). */
int srv_props_parse(const json_t *props, const char *const *labels,
                    size_t nlabels, json_t **out, char *err, size_t errlen);

/* Checks the app.<label>.<option> and app.*.<option> properties of a
 * normalised object (srv_props_parse's) against the option tables of the
 * stream's apps, with the rule the DSL checker applies to a definition's
 * options (dsl_option_expect): infos[k] describes the app labelled
 * labels[k] (NULL when it is not registered; its options are then not
 * checked). app.<label>.<option> needs that app to have the option;
 * app.*.<option> needs at least one app of the stream to have it, and
 * every app that has it must accept the value. Returns 0, or -SRV_EPROPS
 * with a message in err naming the property, the value and what is
 * allowed. */
int srv_props_check_apps(const json_t *props, const char *stream,
                         const char *const *labels,
                         const dsl_app_info *const *infos, size_t n, char *err,
                         size_t errlen);

/* The option of info named name, or NULL. Borrowed. */
const dsl_app_option *srv_props_app_option(const dsl_app_info *info,
                                           const char *name);

/* The value of deployer.<label>.<prop>, else deployer.*.<prop>, else
 * NULL. Borrowed. */
const char *srv_props_deployer(const json_t *props, const char *label,
                               const char *prop);

/* The same as an integer (def when absent). */
long srv_props_deployer_int(const json_t *props, const char *label,
                            const char *prop, long def);

/* The deployment property app.<label>.partition-key: how events are
 * routed among the instances of that app (its producers get it as
 * --flow.partition-key). Not an app option. */
#define SRV_PARTITION_KEY "partition-key"

/* The value of app.<label>.partition-key, or NULL. Borrowed. */
const char *srv_props_partition_key(const json_t *props, const char *label);

/* The deployment property app.<label>.partition-key-expression, as SCDF
 * spells it: the same routing by the text of an expression
 * (docs/expressions.md), passed as --flow.partition-key-expression; it
 * wins over partition-key. */
#define SRV_PARTITION_KEY_EXPR "partition-key-expression"

/* The value of app.<label>.partition-key-expression, or NULL. Borrowed. */
const char *srv_props_partition_key_expr(const json_t *props,
                                         const char *label);

/* "multi" or "single". */
const char *srv_props_packaging(const json_t *props);

/* Calls fn for every option set by app.<label>.<option> or
 * app.*.<option> (the label-specific one wins). */
void srv_props_app_options(const json_t *props, const char *label,
                           void (*fn)(void *ud, const char *option,
                                      const char *value),
                           void *ud);

#endif
