/* SPDX-License-Identifier: MIT */
/* halo_info_footprint.h — `halo-info --footprint` (halo_info_footprint.c). */
#ifndef HALO_INFO_FOOTPRINT_H
#define HALO_INFO_FOOTPRINT_H

/* argv: the words after --footprint. Prints the table; 0, 1 (a job failed) or 2 (usage). */
int halo_info_footprint(int argc, char **argv);

#endif
