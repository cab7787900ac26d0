/*
 * `flowctl validate`: check stream definitions against the apps of the
 * server when it answers, else the built-in apps.
 */
#ifndef FLOWCTL_VALIDATE_H
#define FLOWCTL_VALIDATE_H

struct ctl;

/* Run `flowctl validate [-o json] [--registry FILE] [--offline]
 * (-e DEFINITION | FILE...)`; argv[0] is "validate". c (borrowed) is
 * the server to ask for its registry; NULL asks none. Returns the exit
 * status: 0 valid, 1 invalid, 2 usage error. */
int flowctl_validate(struct ctl *c, int argc, char **argv);

#endif
