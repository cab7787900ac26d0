/*
 * apps.h - the descriptors of the built-in apps, for their one-line mains
 * and for flow-host, which links them all.
 */
#ifndef FLOW_MODULES_APPS_H
#define FLOW_MODULES_APPS_H

#include "flow/app.h"

extern const flow_app_desc account_events_app;
extern const flow_app_desc aggregate_counter_app;
extern const flow_app_desc bridge_app;
extern const flow_app_desc counter_app;
extern const flow_app_desc field_value_counter_app;
extern const flow_app_desc load_sim_app;
extern const flow_app_desc log_app;
extern const flow_app_desc time_app;

#endif
