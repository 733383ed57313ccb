import { z } from "zod";
import { MODPROBE_FILE_NAME } from "../../common/markers";
import { ConnectionSchema } from "../../connection/schema";

/** Type name of the resource (the dynamic-provider type token ends with it). */
export const HELPER_SETTING_TYPE = "ConntrackHelperSetting";

/** Default name of the managed file under `/etc/modprobe.d`. */
export const DEFAULT_HELPER_FILE_NAME = "pulumi-conntrack-helper.conf";

const fileName = z
  .string()
  // Refused one by one so the message says what is wrong with the name, not just "invalid".
  .refine((s) => !s.includes("/"), "must be a plain file name under /etc/modprobe.d, without '/'")
  .refine((s) => !s.includes(".."), "must not contain '..'")
  .refine((s) => s.endsWith(".conf"), "must end in .conf (modprobe reads no other files in /etc/modprobe.d)")
  .refine(
    (s) => MODPROBE_FILE_NAME.test(s),
    "must start with a letter or digit and use only letters, digits, '.', '_' and '-' (at most 126 characters)",
  );

/**
 * Inputs of a `ConntrackHelperSetting`: whether the kernel assigns conntrack helpers to flows
 * automatically (by port), on one host. Unknown properties are refused.
 */
export const HelperSettingSchema = z
  .object({
    /** How to reach the host (`@pulumi/command`'s `remote.ConnectionArgs`, plus `sudo`). */
    connection: ConnectionSchema,
    /** Automatic helper assignment on (`true`) or off (`false`, the secure setting and the default). */
    enabled: z.boolean().default(false),
    /** Also make the value survive a module reload and a reboot (an `/etc/modprobe.d` option). */
    persist: z.boolean().default(true),
    /** The file under `/etc/modprobe.d` this resource owns. */
    fileName: fileName.default(DEFAULT_HELPER_FILE_NAME),
  })
  .strict();

/** Validated inputs with defaults applied. */
export type HelperSettingInputs = z.output<typeof HelperSettingSchema>;

/** What the program asks for, without the connection. */
export type HelperSettingDesired = Pick<HelperSettingInputs, "enabled" | "persist" | "fileName">;
