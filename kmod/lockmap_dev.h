/* SPDX-License-Identifier: GPL-2.0 */
/* The /dev/lockmap character device, set up by the module's init. */
#ifndef _LOCKMAP_DEV_H
#define _LOCKMAP_DEV_H

int lockmap_dev_init(void);
void lockmap_dev_exit(void);

#endif /* _LOCKMAP_DEV_H */
