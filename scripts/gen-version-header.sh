#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only
# Writes <qaic/version.h> from VERSION (line 1: MAJOR.MINOR.PATCH, line 2: the release date,
# YYYY-MM-DD) to standard output; fails on a malformed file.
#   gen-version-header.sh VERSION
set -eu
version=$(sed -n 1p "$1")
date=$(sed -n 2p "$1")
[[ $version =~ ^([0-9]+)\.([0-9]+)\.([0-9]+)$ ]] || { echo "$1: bad version '$version'" >&2; exit 1; }
major=${BASH_REMATCH[1]} minor=${BASH_REMATCH[2]} patch=${BASH_REMATCH[3]}
[[ $date =~ ^[0-9]{4}-[0-9]{2}-[0-9]{2}$ ]] || { echo "$1: bad date '$date'" >&2; exit 1; }
cat <<H
/* SPDX-License-Identifier: MIT */
/* Generated from VERSION by scripts/gen-version-header.sh: the qaic project's version, shared
 * by libqaic, its tools and the driver's DRM_IOCTL_VERSION. */
#ifndef QAIC_VERSION_H
#define QAIC_VERSION_H

#define QAIC_VERSION "$version"
#define QAIC_VERSION_MAJOR $major
#define QAIC_VERSION_MINOR $minor
#define QAIC_VERSION_PATCH $patch
/* The release date, as DRM_IOCTL_VERSION reports it (YYYYMMDD). */
#define QAIC_VERSION_DATE "${date//-/}"

#endif
H
