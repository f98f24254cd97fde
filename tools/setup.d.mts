// Types of tools/setup.mjs (plain JavaScript: it runs before anything is installed), for the tests.
export declare const PACKAGE_LIST: string;
export declare const DPKG_STATUS: string;
export declare function readPackageList(file?: string): { name: string; main: boolean }[];
export declare function missingPackages(wanted: string[], statusText: string): string[];
export declare function installCommand(missing: string[], options?: { sudo?: boolean }): string;
export declare function setup(options?: {
  forMain?: boolean;
  listFile?: string;
  statusFile?: string;
  uid?: number;
  env?: NodeJS.ProcessEnv;
  log?: (msg: string) => void;
}): number;
