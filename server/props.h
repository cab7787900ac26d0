/* Deployment properties, as SCDF spells them: app.<label>.<option>,
 * app.*.<option>, deployer.<label>.<prop>, deployer.*.<prop> and
 * deployer.packaging. Pure functions over a jansson object, so that they
 * can be unit-tested. */
#ifndef SRV_PROPS_H
#define SRV_PROPS_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#define SRV_MAX_COUNT 64

/* Checks a properties object against the stream's labels and returns a
 * normalised copy (every value a string) in *out (new reference). On a
 * problem returns -1 with a message in err naming the key and the allowed
 * forms. props may be NULL (no properties). */
int srv_props_parse(const json_t *props, const char *const *labels,
                    size_t nlabels, json_t **out, char *err, size_t errlen);

/* The value of deployer.<label>.<prop>, else deployer.*.<prop>, else
 * NULL. Borrowed. */
const char *srv_props_deployer(const json_t *props, const char *label,
                               const char *prop);

/* The same as an integer (def when absent). */
long srv_props_deployer_int(const json_t *props, const char *label,
                            const char *prop, long def);

/* "multi" or "single". */
const char *srv_props_packaging(const json_t *props);

/* Calls fn for every option set by app.<label>.<option> or
 * app.*.<option> (the label-specific one wins). */
void srv_props_app_options(const json_t *props, const char *label,
                           void (*fn)(void *ud, const char *option,
                                      const char *value),
                           void *ud);

#endif
