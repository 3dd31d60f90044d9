/* SPDX-License-Identifier: ISC */
/* version.h: the version string that --version prints. */
#ifndef OBJD_VERSION_H
#define OBJD_VERSION_H

#include "config.h"

#define OBJD_VERSION PACKAGE_VERSION

#endif
