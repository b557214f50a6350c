// The `sun` section of a planet file: follow the sun. Demand over a day is a curve of shares
// by local hour (0–1 of the peak), the same curve for every site, read at each site's local
// time; each site's app tier is sized to cover its share of `peakInstances`, never below
// `minInstances`. `clockSpeed` makes a simulated day pass in minutes (1 is real time). The
// policy that reads this is in src/cattle/sun; this file only says what a valid section is.
import { z } from "zod";
import { appInstancesPerSiteMax } from "./constants.ts";

/** The fastest simulated clock: a day in about 9 s. Faster and a tier cannot keep up with it. */
export const sunClockSpeedMax = 10_000;
/** The most points a curve may have. */
export const sunCurvePointsMax = 96;

const pointSchema = z
  .object({
    /** Local hour of day, 0 ≤ hour < 24 (fractions allowed: 7.5 is 07:30). */
    hour: z.number().min(0).lt(24),
    /** Share of the peak demand at that hour, 0–1. */
    share: z.number().min(0).max(1),
  })
  .strict();

const countSchema = z.number().int().min(0).max(appInstancesPerSiteMax);

const siteSunSchema = z
  .object({
    /** The site's local time is UTC + this (default: its longitude / 15, the solar time). */
    utcOffsetHours: z.number().min(-14).max(14).optional(),
    peakInstances: countSchema.optional(),
    minInstances: countSchema.optional(),
  })
  .strict();

export const sunSchema = z
  .object({
    curve: z
      .array(pointSchema)
      .min(1)
      .max(sunCurvePointsMax)
      .superRefine((points, ctx) => {
        for (let i = 1; i < points.length; i++) {
          if (points[i].hour <= points[i - 1].hour) {
            ctx.addIssue({
              code: "custom",
              path: [i, "hour"],
              message: `hours must increase (${points[i].hour} after ${points[i - 1].hour})`,
            });
          }
        }
      }),
    /** App instances per site at share 1. */
    peakInstances: countSchema.min(1),
    /** App instances per site at any hour (0 lets a site empty at night; DNS then steers its users away). */
    minInstances: countSchema.default(1),
    /** Simulated seconds per real second; 1 is real time, 720 passes a day in 2 minutes. */
    clockSpeed: z.number().positive().max(sunClockSpeedMax).default(1),
    /** Hours added to the simulated UTC clock (a bench starts its day where it wants). */
    shiftHours: z.number().min(0).lt(24).default(0),
    /** Per-site overrides, by site name. */
    sites: z.record(z.string(), siteSunSchema).default({}),
  })
  .strict()
  .superRefine((sun, ctx) => {
    if (sun.minInstances > sun.peakInstances) {
      ctx.addIssue({
        code: "custom",
        path: ["minInstances"],
        message: `must not exceed peakInstances (${sun.peakInstances})`,
      });
    }
    for (const [name, s] of Object.entries(sun.sites)) {
      const peak = s.peakInstances ?? sun.peakInstances;
      const min = s.minInstances ?? sun.minInstances;
      if (min > peak)
        ctx.addIssue({
          code: "custom",
          path: ["sites", name, "minInstances"],
          message: `must not exceed peakInstances (${peak})`,
        });
    }
  });

export type SunConfig = z.output<typeof sunSchema>;
