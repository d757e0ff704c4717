/** Types for postject's API (the package ships none): injects a resource into an executable. */
declare module 'postject' {
  export function inject (filename: string, resourceName: string, resourceData: Buffer, options?: {
    sentinelFuse?: string
    machoSegmentName?: string
    overwrite?: boolean
  }): Promise<void>
}
