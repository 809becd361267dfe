// Written by hand the way `npx convex codegen` writes convex/_generated/dataModel.d.ts (see
// api.ts for why): the test app's data model, from its schema.
import type { DataModelFromSchemaDefinition } from 'convex/server';
import type schema from '../schema.js';

/** The test app's tables and their documents. */
export type DataModel = DataModelFromSchemaDefinition<typeof schema>;
