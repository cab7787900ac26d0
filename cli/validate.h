/*
 * `flowctl validate`: check stream definitions offline (no server).
 */
#ifndef FLOWCTL_VALIDATE_H
#define FLOWCTL_VALIDATE_H

/* Run `flowctl validate [-o json] [--registry FILE] (-e DEFINITION |
 * FILE...)`; argv[0] is "validate". Returns the exit status: 0 valid,
 * 1 invalid, 2 usage error. */
int flowctl_validate(int argc, char **argv);

#endif
