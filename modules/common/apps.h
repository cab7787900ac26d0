/*
 * apps.h - the descriptors of the built-in apps, for their one-line mains
 * and for flow-host, which links them all. The list is FLOW_MODULES_APPS,
 * generated from modules_apps in modules/meson.build.
 */
#ifndef FLOW_MODULES_APPS_H
#define FLOW_MODULES_APPS_H

#include "builtin-apps.h"
#include "flow/app.h"

#define FLOW_MODULES__DECLARE(desc, name) extern const flow_app_desc desc;
FLOW_MODULES_APPS(FLOW_MODULES__DECLARE)
#undef FLOW_MODULES__DECLARE

#endif
