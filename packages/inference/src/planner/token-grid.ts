/** The token grid is a contract between the planner, the queues and the API: one definition, in shared. */
export type { TokenGrid } from '@glm-image/shared/tokens';
