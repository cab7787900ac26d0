/*
 * function-app.h - the `function` app (function.c). It is not one of
 * modules_apps: it loads shared objects, so it links dynamically and
 * flow-host, linked fully static, does not carry it.
 */
#ifndef FLOW_MODULES_FUNCTION_APP_H
#define FLOW_MODULES_FUNCTION_APP_H

#include "flow/app.h"

extern const flow_app_desc function_app;

/*
 * Loads the library at path and prints what it exports as one JSON
 * object on stdout (funclib_describe). When it cannot be loaded or fails
 * the checks, prints {"error": REASON} instead and returns 2; else 0.
 */
int function_describe_library(const char *path);

#endif
