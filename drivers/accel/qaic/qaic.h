// SPDX-License-Identifier: GPL-2.0-only
// The qaic driver: device and per-file state shared by its parts.
#pragma once

#include "drivers/accel/accel.h"

namespace qaic {

inline constexpr const char *kDriverName = "qaic";
inline constexpr const char *kDriverDesc = "Qualcomm Cloud AI Accelerators";

class QaicDevice : public accel::Device {
public:
    QaicDevice();
};

// Per-file state: the user (`usr` upstream) on whose behalf DBCs are activated.
struct QaicUser : accel::FilePrivate {
    uint32_t handle = 0; // identifies the user to the firmware
};

// Creates a device and registers its accel minor.
kernel::ErrorOr<kernel::RefPtr<QaicDevice>> probe();
// Unplugs the device: later ioctls and opens get -ENODEV.
void remove(QaicDevice &qdev);

} // namespace qaic
