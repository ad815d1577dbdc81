/* SPDX-License-Identifier: MIT */
/*
 * hot.h — HALO_HOT marks the functions a small collective runs, so that the
 * linker places them side by side.
 *
 * Between two all-reduces of a decode step the application streams a layer's
 * weights through the caches, so the next call finds none of the library's code
 * in the cache or the TLB: every page of code it runs costs a page walk and every
 * line a read from memory. The calls' path crosses some sixty functions in a dozen
 * source files, which the linker would spread over two dozen pages. Marked, they
 * share one input section name, and the GNU and gold linkers' default scripts put
 * every `.text.hot.*` section together: the path then spans three or four pages.
 * (lld keeps the order of its inputs unless told -z keep-text-section-prefix; the
 * functions still sit together within each object file.)
 *
 * Mark a function only when a small call runs it every time (the entry point,
 * checks, the choice, the engine's waits and primitives, the transports' slot
 * operations): each function added spreads the others. Error paths stay outside.
 */
#ifndef HALO_HOT_H
#define HALO_HOT_H

#if defined(__ELF__) && (defined(__GNUC__) || defined(__clang__))
#define HALO_HOT __attribute__((section(".text.hot.halo")))
#else
#define HALO_HOT
#endif

#endif
