/*
 * Deployment properties as flowctl reads them: 'k=v,k2=v2' from
 * --properties and key=value lines from --properties-file.
 */
#ifndef FLOWCTL_PROPS_H
#define FLOWCTL_PROPS_H

#include <jansson.h>

#include "ctl.h"

/* Adds the properties of text ('k=v,k2=v2') to the object props (values
 * as strings). A comma not followed by a key=value belongs to the
 * previous value. Returns 0, or CTL_EUSAGE after saying what is wrong. */
int props_parse(json_t *props, const char *text);

/* The same for a file of key=value lines; '#' and '!' start comments.
 * Errors name the file and line. */
int props_parse_file(json_t *props, const char *file);

#endif
