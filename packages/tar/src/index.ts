import { SMOKE } from '@pd/oci-types';
export const TAR_SMOKE = SMOKE + 1;
