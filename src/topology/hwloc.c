/* SPDX-License-Identifier: MIT */
/*
 * hwloc.c — NUMA locality of PCI devices through libhwloc, loaded at run time.
 *
 * hwloc is optional: the library must run on nodes without it, so it is dlopen()ed
 * once (pthread_once) and its topology loaded once; both are immutable afterwards and
 * only read. Built against hwloc 2.x headers when they are present at build time
 * (libhwloc-dev); without them this file compiles to stubs and discovery uses sysfs'
 * numa_node, which gives the same answer for NICs on Linux. The whole-file #if is the
 * one exception to "no #ifdef in .c bodies": the alternative, declaring hwloc's object
 * layout by hand, would be worse.
 *
 * Only exported hwloc symbols are called (helper.h's inline functions would call
 * symbols we do not link), and only with a 2.x library (hwloc_get_api_version()).
 */
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "topo.h"

#if defined(__has_include) && __has_include(<hwloc.h>)
#include <dlfcn.h>
#include <hwloc.h>

struct topo_hwloc {
    void *lib;
    hwloc_topology_t topo;
    unsigned (*get_api_version)(void);
    int (*topology_init)(hwloc_topology_t *);
    int (*set_io_types_filter)(hwloc_topology_t, enum hwloc_type_filter_e);
    int (*topology_load)(hwloc_topology_t);
    void (*topology_destroy)(hwloc_topology_t);
    unsigned (*get_nbobjs_by_depth)(hwloc_topology_t, int);
    hwloc_obj_t (*get_obj_by_depth)(hwloc_topology_t, int, unsigned);
    int (*bitmap_first)(hwloc_const_bitmap_t);
};

static struct topo_hwloc topo_hw; /* written once under topo_hw_once, then read-only */
static pthread_once_t topo_hw_once = PTHREAD_ONCE_INIT;

static int topo_hwloc_syms(struct topo_hwloc *h)
{
    struct {
        void **slot;
        const char *name;
    } syms[] = {
        { (void **)&h->get_api_version, "hwloc_get_api_version" },
        { (void **)&h->topology_init, "hwloc_topology_init" },
        { (void **)&h->set_io_types_filter, "hwloc_topology_set_io_types_filter" },
        { (void **)&h->topology_load, "hwloc_topology_load" },
        { (void **)&h->topology_destroy, "hwloc_topology_destroy" },
        { (void **)&h->get_nbobjs_by_depth, "hwloc_get_nbobjs_by_depth" },
        { (void **)&h->get_obj_by_depth, "hwloc_get_obj_by_depth" },
        { (void **)&h->bitmap_first, "hwloc_bitmap_first" },
    };

    for (size_t i = 0; i < sizeof(syms) / sizeof(syms[0]); i++) {
        *syms[i].slot = dlsym(h->lib, syms[i].name);
        if (!*syms[i].slot)
            return -1;
    }
    return 0;
}

static void topo_hwloc_load(void)
{
    struct topo_hwloc h;

    memset(&h, 0, sizeof(h));
    h.lib = dlopen("libhwloc.so.15", RTLD_NOW | RTLD_LOCAL);
    if (!h.lib)
        h.lib = dlopen("libhwloc.so", RTLD_NOW | RTLD_LOCAL);
    if (!h.lib)
        return;
    if (topo_hwloc_syms(&h) != 0 || (h.get_api_version() >> 16) != (HWLOC_API_VERSION >> 16))
        goto err_close;
    if (h.topology_init(&h.topo) != 0)
        goto err_close;
    if (h.set_io_types_filter(h.topo, HWLOC_TYPE_FILTER_KEEP_IMPORTANT) != 0 ||
        h.topology_load(h.topo) != 0)
        goto err_destroy;
    topo_hw = h;
    return;
err_destroy:
    h.topology_destroy(h.topo);
err_close:
    dlclose(h.lib);
}

static int topo_hwloc_is_io(hwloc_obj_type_t t)
{
    return t == HWLOC_OBJ_BRIDGE || t == HWLOC_OBJ_PCI_DEVICE || t == HWLOC_OBJ_OS_DEVICE ||
           t == HWLOC_OBJ_MISC;
}

int topo_hwloc_numa_of_pci(const char *pci_busid)
{
    unsigned dom, bus, dev, fn, n;
    hwloc_obj_t obj = NULL;

    pthread_once(&topo_hw_once, topo_hwloc_load);
    if (!topo_hw.topo || sscanf(pci_busid, "%x:%x:%x.%x", &dom, &bus, &dev, &fn) != 4)
        return -1;
    n = topo_hw.get_nbobjs_by_depth(topo_hw.topo, HWLOC_TYPE_DEPTH_PCI_DEVICE);
    for (unsigned i = 0; i < n && !obj; i++) {
        hwloc_obj_t o = topo_hw.get_obj_by_depth(topo_hw.topo, HWLOC_TYPE_DEPTH_PCI_DEVICE, i);
        struct hwloc_pcidev_attr_s *p = &o->attr->pcidev;
        if (p->domain == dom && p->bus == bus && p->dev == dev && p->func == fn)
            obj = o;
    }
    while (obj && topo_hwloc_is_io(obj->type))
        obj = obj->parent;
    if (!obj || !obj->nodeset)
        return -1;
    return topo_hw.bitmap_first(obj->nodeset);
}

int topo_hwloc_available(void)
{
    pthread_once(&topo_hw_once, topo_hwloc_load);
    return topo_hw.topo != NULL;
}

#else /* no hwloc headers at build time */

int topo_hwloc_numa_of_pci(const char *pci_busid)
{
    (void)pci_busid;
    return -1;
}

int topo_hwloc_available(void)
{
    return 0;
}

#endif
